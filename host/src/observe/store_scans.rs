//! Many keys at once on `--http`: ranges and prefixes of key-value stores,
//! and a key's windows in a windowed store (Kafka Streams' `range`,
//! `prefixScan` and `WindowStore.fetch(key, from, to)`), over the same
//! [`StoreView`] as key lookups.
//!
//! - `GET /stores/<store>/range?from=<k>&to=<k>&limit=<n>`: keys from
//!   `from` to `to`, both inclusive as in Kafka Streams' `range(from, to)`,
//!   either bound optional.
//! - `GET /stores/<store>/prefix/<p>?limit=<n>`: keys starting with `p`.
//!
//! Both read every partition of the store running on this instance and
//! merge them in key order, at most `limit` entries (default
//! [`DEFAULT_LIMIT`], at most [`MAX_LIMIT`]): `{"store", "entries":
//! [{"key", "key-encoding", "value", "encoding", "partition"}], "more",
//! "complete", "missing"}`. `missing` lists the partitions not running here
//! (held by other instances, restoring, or moving), so `complete` is true
//! only when every partition answered; `more` says the limit cut the
//! answer (ask again from after the last key). Bounds and prefixes are
//! UTF-8 text, or base64 with `key-encoding=base64`; keys in entries are
//! UTF-8 text when they are, base64 otherwise (`key-encoding` says which).
//!
//! - `GET /stores/<store>/windows/<key>?from=<ms>&to=<ms>`: the key's
//!   windows starting within `[from, to]` (sessions: overlapping it), both
//!   optional: `{"store", "key", "partition", "windows": [{"start", "end",
//!   "value", "encoding"}]}`, with a key lookup's owner rules (307 to the
//!   owner, 503 while restoring or moving).

use super::codec::{Codec, key_text};
use super::store_queries::{Asked, KeyRange, Lookup, Scan, StoreView, answer, key_bytes, refuse, with_view};
use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Json, Response};
use serde_json::json;
use std::collections::HashMap;

/// Entries a scan answers when the request names no limit.
pub const DEFAULT_LIMIT: usize = 100;
/// The most entries one scan answers: bigger answers are paged with `from`.
pub const MAX_LIMIT: usize = 10_000;

/// The axum handler of `/stores/<store>/range`.
pub async fn range_handler(Path(store): Path<String>, Query(params): Query<HashMap<String, String>>) -> Response {
    with_view(|view| range(view, &store, &params))
}

/// The axum handler of `/stores/<store>/prefix/<p>`.
pub async fn prefix_handler(
    Path((store, prefix)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    with_view(|view| prefix_scan(view, &store, &prefix, &params))
}

/// The axum handler of `/stores/<store>/windows/<key>`.
pub async fn windows_handler(
    Path((store, key)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    with_view(|view| windows(view, &store, &key, &params))
}

/// Answers a range scan from `view`.
pub fn range(view: &dyn StoreView, store: &str, params: &HashMap<String, String>) -> Response {
    let bound = |name: &str| match params.get(name) {
        None => Ok(None),
        Some(text) => key_bytes(text, params).map(Some),
    };
    let (from, to, limit) = match (bound("from"), bound("to"), limit(params)) {
        (Ok(from), Ok(to), Ok(limit)) => (from, to, limit),
        (Err(refusal), ..) | (_, Err(refusal), _) | (.., Err(refusal)) => return refusal,
    };
    // `to` is inclusive: the first key past it is `to` followed by a 0 byte.
    let end = to.map(|mut to| {
        to.push(0);
        to
    });
    if let (Some(from), Some(end)) = (&from, &end)
        && from >= end
    {
        return refuse(
            StatusCode::BAD_REQUEST,
            "from is after to; a range runs from its first key to its last".into(),
        );
    }
    scanned(view, store, &KeyRange { start: from, end }, limit)
}

/// Answers a prefix scan from `view`.
pub fn prefix_scan(view: &dyn StoreView, store: &str, prefix: &str, params: &HashMap<String, String>) -> Response {
    let (prefix, limit) = match (key_bytes(prefix, params), limit(params)) {
        (Ok(prefix), Ok(limit)) => (prefix, limit),
        (Err(refusal), _) | (_, Err(refusal)) => return refusal,
    };
    let end = successor(&prefix);
    scanned(
        view,
        store,
        &KeyRange {
            start: Some(prefix),
            end,
        },
        limit,
    )
}

/// The first key past every key starting with `prefix`; `None` when no
/// key is (the prefix is empty or all 0xff bytes).
fn successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let last = prefix.iter().rposition(|b| *b != 0xff)?;
    let mut end = prefix[..=last].to_vec();
    end[last] += 1;
    Some(end)
}

/// `?limit=`, or the refusal.
fn limit(params: &HashMap<String, String>) -> Result<usize, Response> {
    let Some(text) = params.get("limit") else {
        return Ok(DEFAULT_LIMIT);
    };
    match text.parse::<usize>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(refuse(
            StatusCode::BAD_REQUEST,
            format!("limit {text:?} is not a number from 1 to {MAX_LIMIT}"),
        )),
    }
}

/// The answer of scanning `range` of `store`.
fn scanned(view: &dyn StoreView, store: &str, range: &KeyRange, limit: usize) -> Response {
    match view.scan(store, range, limit) {
        Ok(Scan { entries, more, missing }) => {
            let codec = view.codec(store);
            let entries: Vec<_> = entries
                .iter()
                .map(|entry| {
                    let (key, key_encoding) = key_text(&entry.key);
                    let value = codec.decode(&entry.value);
                    json!({
                        "key": key,
                        "key-encoding": key_encoding,
                        "value": value.value,
                        "encoding": value.encoding,
                        "partition": entry.partition,
                    })
                })
                .collect();
            Json(json!({
                "store": store,
                "entries": entries,
                "more": more,
                "complete": missing.is_empty(),
                "missing": missing,
            }))
            .into_response()
        }
        Err(refusal) => refused(store, refusal),
    }
}

/// A scan's refusal, as a key lookup's would be.
fn refused(store: &str, refusal: Lookup) -> Response {
    let none = HashMap::new();
    let asked = Asked {
        store,
        what: "range",
        key: "",
        params: &none,
    };
    answer(&asked, refusal, Codec::Base64)
}

/// Answers a window fetch from `view`.
pub fn windows(view: &dyn StoreView, store: &str, key: &str, params: &HashMap<String, String>) -> Response {
    let time = |name: &str, default: i64| match params.get(name) {
        None => Ok(default),
        Some(text) => text.parse::<i64>().map_err(|_| {
            refuse(
                StatusCode::BAD_REQUEST,
                format!("{name} {text:?} is not a time; write milliseconds since the epoch"),
            )
        }),
    };
    let (bytes, from, to) = match (key_bytes(key, params), time("from", i64::MIN), time("to", i64::MAX)) {
        (Ok(bytes), Ok(from), Ok(to)) => (bytes, from, to),
        (Err(refusal), ..) | (_, Err(refusal), _) | (.., Err(refusal)) => return refusal,
    };
    if from > to {
        return refuse(StatusCode::BAD_REQUEST, format!("from {from} is after to {to}"));
    }
    match view.windows(store, &bytes, from, to) {
        Ok((partition, found)) => {
            let codec = view.codec(store);
            let windows: Vec<_> = found
                .iter()
                .map(|w| {
                    let value = codec.decode(&w.value);
                    json!({"start": w.start, "end": w.end, "value": value.value, "encoding": value.encoding})
                })
                .collect();
            Json(json!({"store": store, "key": key, "partition": partition, "windows": windows})).into_response()
        }
        Err(refusal) => {
            let asked = Asked {
                store,
                what: "windows",
                key,
                params,
            };
            answer(&asked, refusal, Codec::Base64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::store_queries::tests::{Canned, body};
    use axum::http::header;

    fn params(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn keys(answer: &serde_json::Value) -> Vec<String> {
        answer["entries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["key"].as_str().unwrap().to_string())
            .collect()
    }

    #[test]
    fn a_range_is_inclusive_at_both_ends_and_says_what_it_lacks() {
        let all = range(&Canned, "counts", &params(&[]));
        assert_eq!(all.status(), StatusCode::OK);
        let all = body(all);
        assert_eq!(keys(&all), ["a", "ab", "b", "c", "/w=="]);
        assert_eq!(
            all["entries"][0],
            json!({"key": "a", "key-encoding": "utf-8", "value": 1, "encoding": "u64-be", "partition": 0})
        );
        assert_eq!(all["entries"][4]["key-encoding"], "base64", "a key that is not UTF-8");
        assert_eq!(
            (all["complete"].clone(), all["missing"].clone(), all["more"].clone()),
            (json!(false), json!([3]), json!(false))
        );

        let ab_to_b = body(range(&Canned, "counts", &params(&[("from", "ab"), ("to", "b")])));
        assert_eq!(keys(&ab_to_b), ["ab", "b"], "both bounds inclusive");
        assert_eq!(
            keys(&body(range(&Canned, "counts", &params(&[("to", "ab")])))),
            ["a", "ab"]
        );
        assert_eq!(
            keys(&body(range(
                &Canned,
                "counts",
                &params(&[("from", "b"), ("limit", "1")])
            ))),
            ["b"]
        );
        let cut = body(range(&Canned, "counts", &params(&[("limit", "2")])));
        assert_eq!(
            (keys(&cut), cut["more"].clone()),
            (vec!["a".to_string(), "ab".into()], json!(true))
        );
        // "YWI=" is "ab".
        let base64 = params(&[("from", "YWI="), ("to", "YWI="), ("key-encoding", "base64")]);
        assert_eq!(keys(&body(range(&Canned, "counts", &base64))), ["ab"]);
    }

    #[test]
    fn bad_limits_bounds_and_stores_are_refused_with_a_message() {
        for (name, value) in [("limit", "0"), ("limit", "10001"), ("limit", "many")] {
            let refused = range(&Canned, "counts", &params(&[(name, value)]));
            assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{name}={value}");
            assert!(body(refused)["error"].as_str().unwrap().contains("limit"));
        }
        let backwards = range(&Canned, "counts", &params(&[("from", "c"), ("to", "a")]));
        assert_eq!(backwards.status(), StatusCode::BAD_REQUEST);
        let bad = params(&[("from", "%%"), ("key-encoding", "base64")]);
        assert_eq!(range(&Canned, "counts", &bad).status(), StatusCode::BAD_REQUEST);
        let unknown = range(&Canned, "count", &params(&[]));
        assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
        assert_eq!(body(unknown)["stores"], json!(["counts"]));
        assert_eq!(
            prefix_scan(&Canned, "counts", "a", &params(&[("limit", "-1")])).status(),
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn a_prefix_reads_the_keys_starting_with_it() {
        assert_eq!(
            keys(&body(prefix_scan(&Canned, "counts", "a", &params(&[])))),
            ["a", "ab"]
        );
        assert_eq!(keys(&body(prefix_scan(&Canned, "counts", "ab", &params(&[])))), ["ab"]);
        assert!(keys(&body(prefix_scan(&Canned, "counts", "d", &params(&[])))).is_empty());
        // "/w==" is the byte 0xff: every key from it on.
        let ff = params(&[("key-encoding", "base64")]);
        assert_eq!(keys(&body(prefix_scan(&Canned, "counts", "/w==", &ff))), ["/w=="]);
        assert_eq!(successor(b"ab"), Some(b"ac".to_vec()));
        assert_eq!(successor(b"a\xff"), Some(b"b".to_vec()));
        assert_eq!(successor(b"\xff\xff"), None);
        assert_eq!(successor(b""), None);
    }

    #[test]
    fn windows_of_a_key_within_times_follow_the_owner_rules() {
        let all = windows(&Canned, "per-minute", "k", &params(&[]));
        assert_eq!(all.status(), StatusCode::OK);
        let all = body(all);
        assert_eq!(all["partition"], 1);
        assert_eq!(all["windows"].as_array().unwrap().len(), 3);
        assert_eq!(
            all["windows"][1],
            json!({"start": 60_000, "end": 120_000, "value": "Mg==", "encoding": "base64"})
        );
        let some = body(windows(
            &Canned,
            "per-minute",
            "k",
            &params(&[("from", "60000"), ("to", "120000")]),
        ));
        assert_eq!(some["windows"].as_array().unwrap().len(), 2);

        let moved = windows(&Canned, "per-minute", "elsewhere", &params(&[("from", "5")]));
        assert_eq!(moved.status(), StatusCode::TEMPORARY_REDIRECT);
        assert_eq!(
            moved.headers()[header::LOCATION],
            "http://10.0.0.9:9464/stores/per-minute/windows/elsewhere?hop=1&from=5"
        );
        let restoring = windows(&Canned, "per-minute", "restoring", &params(&[]));
        assert_eq!(restoring.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            windows(&Canned, "per-minute", "k", &params(&[("from", "soon")])).status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            windows(&Canned, "per-minute", "k", &params(&[("from", "9"), ("to", "1")])).status(),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            windows(&Canned, "counts", "k", &params(&[])).status(),
            StatusCode::BAD_REQUEST
        );
    }
}
