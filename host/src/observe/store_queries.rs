//! `GET /stores/<store>/keys/<key>` on `--http`: interactive queries of a
//! key-value store. Which instance answers what is `state::queries`'
//! business; it shows itself here through [`StoreView`] (installed by the
//! runtime), so this module stays a leaf, as the rest of `observe`.
//!
//! The key is the path segment as UTF-8 text, or base64 with
//! `?key-encoding=base64`. Answers are JSON:
//!
//! | status | when |
//! |--------|------|
//! | 200 | `{"store", "key", "partition", "value", "value-encoding": "base64"}` |
//! | 404 | no such store (the stores are listed), or no value for the key in its partition here |
//! | 400 | a windowed store, or a key that is not valid base64 |
//! | 307 | another instance owns the key's partition (`--advertised-http`): `Location` (and `"owner"`) name it; the redirected request carries `hop=1` and is never redirected again |
//! | 503 | the key's partition is restoring here, or not here and no owner is known (another instance, or a rebalance): retry (`Retry-After`) |
//!
//! `GET /stores/<store>/metadata/<key>` says where the key lives without
//! reading it: `{"store", "partition", "state": "running" | "restoring" |
//! "not-here", "owner"}` (`owner` is `null` when it is this instance or
//! unknown).

use super::codec::Codec;
use axum::extract::{Path, Query};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Json, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

/// What a key lookup came to, as the HTTP answer shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The value of the key, read from the partition owning it.
    Found {
        /// The partition owning the key.
        partition: i32,
        /// The stored bytes.
        value: Vec<u8>,
    },
    /// The partition owning the key is here and running, and holds no
    /// value for it.
    Absent {
        /// The partition owning the key.
        partition: i32,
    },
    /// No store of that name; `known` lists the stores.
    UnknownStore {
        /// Why, for people.
        message: String,
        /// Every store that can be asked.
        known: Vec<String>,
    },
    /// The question does not fit the store (a key lookup of a windowed one).
    Refused {
        /// Why, for people.
        message: String,
    },
    /// The partition owning the key cannot answer here now: retry.
    Unavailable {
        /// Why, for people.
        message: String,
        /// The partition owning the key.
        partition: i32,
        /// `restoring` or `not-here`.
        reason: &'static str,
        /// The instance that owns the partition, when known.
        owner: Option<String>,
    },
    /// Reading the store failed.
    Failed {
        /// Why, for people.
        message: String,
    },
}

/// Which keys a scan reads: `start <= key < end`, either bound open.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyRange {
    /// The first key, inclusive; `None`: from the first key.
    pub start: Option<Vec<u8>>,
    /// The key past the last, exclusive; `None`: to the last key.
    pub end: Option<Vec<u8>>,
}

/// One entry of a scan, with the partition it was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The key's bytes.
    pub key: Vec<u8>,
    /// The value's bytes.
    pub value: Vec<u8>,
    /// The store partition holding it.
    pub partition: i32,
}

/// What a scan of the partitions held here found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scan {
    /// At most the limit's entries, in key order.
    pub entries: Vec<Entry>,
    /// Whether the limit cut the answer (more keys in range follow the last).
    pub more: bool,
    /// The store's partitions not running here (elsewhere, restoring or
    /// moving): their keys are not in `entries`.
    pub missing: Vec<i32>,
}

/// One window of a key in a windowed store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowValue {
    /// Its start, ms since the epoch.
    pub start: i64,
    /// Its end, ms since the epoch.
    pub end: i64,
    /// The aggregate's bytes.
    pub value: Vec<u8>,
}

/// The stores of the running application, as queries see them.
pub trait StoreView: Send + Sync {
    /// The value of `key` (raw bytes) in `store`.
    fn lookup(&self, store: &str, key: &[u8]) -> Lookup;

    /// How `store`'s values read in answers (`[store-codecs]`).
    fn codec(&self, store: &str) -> Codec;

    /// Up to `limit` entries of `store` in `range`, from every partition
    /// running here; `Err` is the refusal (unknown store, wrong kind,
    /// storage failure), rendered as a key lookup's.
    fn scan(&self, store: &str, range: &KeyRange, limit: usize) -> Result<Scan, Lookup>;

    /// The partition owning `key` and its windows in windowed `store`
    /// within `[from, to]`; `Err` is the refusal or the "ask elsewhere"
    /// (`Lookup::Unavailable`), rendered as a key lookup's.
    fn windows(&self, store: &str, key: &[u8], from: i64, to: i64) -> Result<(i32, Vec<WindowValue>), Lookup>;
}

static VIEW: OnceLock<Arc<dyn StoreView>> = OnceLock::new();

/// The scheme redirects name: `https` once `--http` serves TLS.
static SCHEME: OnceLock<&'static str> = OnceLock::new();

/// Redirects to other instances name `https://` from now on (once per
/// process: `--http-tls-cert` is given to every instance alike).
pub fn redirect_over_tls() {
    let _ = SCHEME.set("https");
}

/// Serves queries from `view` from now on (once per process: the
/// application's stores).
pub fn install(view: Arc<dyn StoreView>) {
    let _ = VIEW.set(view);
}

/// The axum handler of key lookups over the installed view.
pub async fn handler(
    Path((store, key)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    with_view(|view| key_lookup(view, &store, &key, &params))
}

/// The axum handler of `/stores/<store>/metadata/<key>`.
pub async fn metadata_handler(
    Path((store, key)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    with_view(|view| metadata(view, &store, &key, &params))
}

/// `answer` over the installed view, or a 404 when none is.
pub(super) fn with_view(answer: impl FnOnce(&dyn StoreView) -> Response) -> Response {
    match VIEW.get() {
        Some(view) => answer(&**view),
        None => refuse(
            StatusCode::NOT_FOUND,
            "this process runs no application with stores".into(),
        ),
    }
}

/// Answers one key lookup from `view`.
pub fn key_lookup(view: &dyn StoreView, store: &str, key: &str, params: &HashMap<String, String>) -> Response {
    match key_bytes(key, params) {
        Ok(bytes) => {
            let asked = Asked {
                store,
                what: "keys",
                key,
                params,
            };
            answer(&asked, view.lookup(store, &bytes), view.codec(store))
        }
        Err(refusal) => refusal,
    }
}

/// Where `key` of `store` lives, without its value.
pub fn metadata(view: &dyn StoreView, store: &str, key: &str, params: &HashMap<String, String>) -> Response {
    let bytes = match key_bytes(key, params) {
        Ok(bytes) => bytes,
        Err(refusal) => return refusal,
    };
    let (partition, state, owner) = match view.lookup(store, &bytes) {
        Lookup::Found { partition, .. } | Lookup::Absent { partition } => (partition, "running", None),
        Lookup::Unavailable {
            partition,
            reason,
            owner,
            ..
        } => (partition, reason, owner),
        other => {
            let asked = Asked {
                store,
                what: "metadata",
                key,
                params,
            };
            return answer(&asked, other, Codec::Base64);
        }
    };
    Json(json!({"store": store, "partition": partition, "state": state, "owner": owner})).into_response()
}

/// The key's bytes as the request encodes them, or the refusal.
pub(super) fn key_bytes(key: &str, params: &HashMap<String, String>) -> Result<Vec<u8>, Response> {
    match params.get("key-encoding").map(String::as_str) {
        None | Some("utf-8") => Ok(key.as_bytes().to_vec()),
        Some("base64") => STANDARD
            .decode(key)
            .map_err(|error| refuse(StatusCode::BAD_REQUEST, format!("the key is not valid base64: {error}"))),
        Some(other) => Err(refuse(
            StatusCode::BAD_REQUEST,
            format!("key-encoding {other:?} is not known; use utf-8 (the default) or base64"),
        )),
    }
}

/// A request about one key, as the redirect to its owner repeats it.
pub(super) struct Asked<'a> {
    /// The store asked.
    pub store: &'a str,
    /// The path segment after the store: `keys`, `windows`, ...
    pub what: &'a str,
    /// The key as the path wrote it.
    pub key: &'a str,
    /// The query parameters.
    pub params: &'a HashMap<String, String>,
}

impl Asked<'_> {
    /// The same request at `owner`, marked `hop=1` so it is never
    /// redirected again; the other parameters kept (sorted).
    fn at(&self, owner: &str) -> String {
        let scheme = SCHEME.get().copied().unwrap_or("http");
        let mut location = format!(
            "{scheme}://{owner}/stores/{}/{}/{}?hop=1",
            escape(self.store),
            self.what,
            escape(self.key)
        );
        let mut params: Vec<_> = self.params.iter().filter(|(k, _)| *k != "hop").collect();
        params.sort();
        for (name, value) in params {
            location.push_str(&format!("&{}={}", escape(name), escape(value)));
        }
        location
    }
}

/// The HTTP answer of `lookup` for the request `asked`, a value read by
/// `codec`.
pub(super) fn answer(asked: &Asked, lookup: Lookup, codec: Codec) -> Response {
    let &Asked { store, key, params, .. } = asked;
    match lookup {
        Lookup::Found { partition, value } => {
            let decoded = codec.decode(&value);
            Json(json!({
                "store": store,
                "key": key,
                "partition": partition,
                "value": decoded.value,
                "encoding": decoded.encoding,
            }))
            .into_response()
        }
        Lookup::Absent { partition } => (
            StatusCode::NOT_FOUND,
            Json(json!({
                "error": format!("no value for this key in {store:?}"),
                "store": store,
                "partition": partition,
            })),
        )
            .into_response(),
        Lookup::UnknownStore { message, known } => {
            (StatusCode::NOT_FOUND, Json(json!({"error": message, "stores": known}))).into_response()
        }
        Lookup::Refused { message } => refuse(StatusCode::BAD_REQUEST, message),
        Lookup::Unavailable {
            owner: Some(owner),
            partition,
            ..
        } if !params.contains_key("hop") => {
            let location = asked.at(&owner);
            let body = json!({
                "error": format!("{store:?} partition {partition} is served by {owner}"),
                "store": store,
                "partition": partition,
                "owner": owner,
                "location": location,
            });
            (
                StatusCode::TEMPORARY_REDIRECT,
                [(header::LOCATION, location)],
                Json(body),
            )
                .into_response()
        }
        Lookup::Unavailable {
            message,
            partition,
            reason,
            owner,
        } => {
            let body = json!({
                "error": message,
                "store": store,
                "partition": partition,
                "reason": reason,
                "owner": owner,
            });
            (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, "1")],
                Json(body),
            )
                .into_response()
        }
        Lookup::Failed { message } => refuse(StatusCode::INTERNAL_SERVER_ERROR, message),
    }
}

/// What a URL path segment or query value keeps unescaped: RFC 3986's
/// unreserved characters.
const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// `text` percent-encoded for a URL path segment or query value (also
/// what `rill query` builds its requests with).
pub(crate) fn escape(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, UNRESERVED).to_string()
}

/// A JSON `{"error": message}` with `status`.
pub(super) fn refuse(status: StatusCode, message: String) -> Response {
    (status, Json(json!({"error": message}))).into_response()
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// Answers by the key's text; `counts` holds u64-be values in
    /// partitions 0 to 2 (`a`, `ab`, `b`, `c` and a binary key), its
    /// partition 3 is elsewhere; `per-minute` is windowed.
    pub(in crate::observe) struct Canned;

    impl StoreView for Canned {
        fn lookup(&self, store: &str, key: &[u8]) -> Lookup {
            if store != "counts" {
                return Lookup::UnknownStore {
                    message: format!("no store named {store:?}"),
                    known: vec!["counts".into()],
                };
            }
            match key {
                b"found" => Lookup::Found {
                    partition: 1,
                    value: vec![0, 0, 0, 0, 0, 0, 0, 3],
                },
                b"absent" => Lookup::Absent { partition: 1 },
                b"restoring" => Lookup::Unavailable {
                    message: "restoring; retry".into(),
                    partition: 2,
                    reason: "restoring",
                    owner: None,
                },
                b"elsewhere" | b"k/1" => Lookup::Unavailable {
                    message: "not here".into(),
                    partition: 3,
                    reason: "not-here",
                    owner: Some("10.0.0.9:9464".into()),
                },
                b"windowed" => Lookup::Refused {
                    message: "a windowed store".into(),
                },
                _ => Lookup::Failed {
                    message: "disk on fire".into(),
                },
            }
        }

        fn codec(&self, store: &str) -> Codec {
            if store == "counts" { Codec::U64Be } else { Codec::Base64 }
        }

        fn scan(&self, store: &str, range: &KeyRange, limit: usize) -> Result<Scan, Lookup> {
            if store != "counts" {
                return Err(self.lookup(store, b""));
            }
            let held: [(&[u8], u64, i32); 5] =
                [(b"a", 1, 0), (b"ab", 2, 1), (b"b", 3, 0), (b"c", 4, 2), (b"\xff", 5, 2)];
            let mut entries: Vec<Entry> = held
                .iter()
                .filter(|(k, _, _)| range.start.as_deref().is_none_or(|s| *k >= s))
                .filter(|(k, _, _)| range.end.as_deref().is_none_or(|e| *k < e))
                .map(|(k, v, p)| Entry {
                    key: k.to_vec(),
                    value: v.to_be_bytes().to_vec(),
                    partition: *p,
                })
                .collect();
            let more = entries.len() > limit;
            entries.truncate(limit);
            Ok(Scan {
                entries,
                more,
                missing: vec![3],
            })
        }

        fn windows(&self, store: &str, key: &[u8], from: i64, to: i64) -> Result<(i32, Vec<WindowValue>), Lookup> {
            if store != "per-minute" {
                return Err(Lookup::Refused {
                    message: format!("{store:?} is not windowed"),
                });
            }
            match key {
                b"k" => Ok((
                    1,
                    [0, 60_000, 120_000]
                        .into_iter()
                        .filter(|start| (from..=to).contains(start))
                        .map(|start| WindowValue {
                            start,
                            end: start + 60_000,
                            value: format!("{}", start / 60_000 + 1).into_bytes(),
                        })
                        .collect(),
                )),
                _ => Err(self.lookup("counts", key)),
            }
        }
    }

    /// The JSON body of `response`.
    pub(in crate::observe) fn body(response: Response) -> serde_json::Value {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let bytes = runtime
            .block_on(axum::body::to_bytes(response.into_body(), 1 << 20))
            .unwrap();
        serde_json::from_slice(&bytes).unwrap()
    }

    #[test]
    fn each_answer_has_its_status_and_a_message() {
        let none = HashMap::new();
        let base64 = HashMap::from([("key-encoding".to_string(), "base64".to_string())]);
        let ask = |store: &str, key: &str, params: &HashMap<String, String>| key_lookup(&Canned, store, key, params);

        let found = ask("counts", "Zm91bmQ=", &base64);
        assert_eq!(found.status(), StatusCode::OK);
        let found = body(found);
        assert_eq!(
            (found["partition"].clone(), found["value"].clone()),
            (json!(1), json!(3))
        );
        assert_eq!(found["encoding"], "u64-be", "counts declares its codec");
        assert_eq!(found["key"], "Zm91bmQ=", "the key as asked");

        assert_eq!(ask("counts", "absent", &none).status(), StatusCode::NOT_FOUND);
        let restoring = ask("counts", "restoring", &none);
        assert_eq!(restoring.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(restoring.headers()[header::RETRY_AFTER], "1");
        assert_eq!(body(restoring)["reason"], "restoring");
        let unknown = ask("count", "found", &none);
        assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
        assert_eq!(body(unknown)["stores"], json!(["counts"]));
        assert_eq!(ask("counts", "windowed", &none).status(), StatusCode::BAD_REQUEST);
        assert_eq!(ask("counts", "x", &none).status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(ask("counts", "%%%", &base64).status(), StatusCode::BAD_REQUEST);
        let hex = HashMap::from([("key-encoding".to_string(), "hex".to_string())]);
        assert_eq!(ask("counts", "6b31", &hex).status(), StatusCode::BAD_REQUEST);

        // Owned by another instance: redirected there once, never twice.
        let moved = ask("counts", "k/1", &none);
        assert_eq!(moved.status(), StatusCode::TEMPORARY_REDIRECT);
        assert_eq!(
            moved.headers()[header::LOCATION],
            "http://10.0.0.9:9464/stores/counts/keys/k%2F1?hop=1"
        );
        assert_eq!(body(moved)["owner"], "10.0.0.9:9464");
        let hopped = HashMap::from([("hop".to_string(), "1".to_string())]);
        let again = ask("counts", "elsewhere", &hopped);
        assert_eq!(again.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body(again)["owner"], "10.0.0.9:9464");
    }

    #[test]
    fn metadata_names_the_partition_its_state_and_its_owner() {
        let none = HashMap::new();
        let meta = |key: &str| body(metadata(&Canned, "counts", key, &none));
        assert_eq!(
            meta("absent"),
            json!({"store": "counts", "partition": 1, "state": "running", "owner": null})
        );
        assert_eq!(meta("restoring")["state"], "restoring");
        assert_eq!(meta("elsewhere")["owner"], "10.0.0.9:9464");
        assert_eq!(metadata(&Canned, "count", "x", &none).status(), StatusCode::NOT_FOUND);
    }
}
