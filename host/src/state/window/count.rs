//! The host's own aggregate, for `aggregate = "count"` (Kafka Streams'
//! `count()`): a window's records folded without calling the plugin. The
//! aggregate is the count as JSON text (`3` is the bytes `"3"`), exactly
//! what the SDKs' `count_one` and `add_counts` write, so a store, its
//! changelog and the results the plugin's `emit` formats are the same
//! bytes whichever side counts.

/// The counts of a window after each of `records` new records (`running`)
/// or after the last one only, starting from the stored `current` count
/// plus the counts of the `merged` sessions it absorbs. `Err` when a
/// stored count is not a JSON integer (the store was written by a plugin
/// with another aggregate): the records are then dead-lettered as an
/// aggregate error, as a plugin's refusal would be.
pub fn counts<'a>(
    current: Option<&[u8]>,
    merged: impl Iterator<Item = &'a [u8]>,
    records: usize,
    running: bool,
) -> Result<Vec<Vec<u8>>, String> {
    let mut count = current.map_or(Ok(0), decode)?;
    for other in merged {
        count = count.saturating_add(decode(other)?);
    }
    let first = if running { 1 } else { records };
    Ok((first..=records)
        .map(|n| count.saturating_add(n as u64).to_string().into_bytes())
        .collect())
}

fn decode(bytes: &[u8]) -> Result<u64, String> {
    std::str::from_utf8(bytes)
        .ok()
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| {
            format!(
                "the stored aggregate is not a count (aggregate = \"count\" keeps counts as JSON integers): {}",
                String::from_utf8_lossy(bytes)
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(values: Vec<Vec<u8>>) -> Vec<String> {
        values.into_iter().map(|v| String::from_utf8(v).unwrap()).collect()
    }

    #[test]
    fn counts_start_at_the_stored_count_plus_the_merged_sessions() {
        let running = counts(None, std::iter::empty(), 3, true).unwrap();
        assert_eq!(text(running), ["1", "2", "3"]);
        assert_eq!(text(counts(None, std::iter::empty(), 3, false).unwrap()), ["3"]);
        let merged = [&b"2"[..], b"5"];
        assert_eq!(text(counts(Some(b"9"), merged.into_iter(), 1, false).unwrap()), ["17"]);
    }

    #[test]
    fn a_stored_aggregate_that_is_not_a_count_is_refused_with_its_text() {
        let error = counts(Some(b"{\"n\":1}"), std::iter::empty(), 1, false).unwrap_err();
        assert!(error.contains("{\"n\":1}") && error.contains("not a count"), "{error}");
        assert!(counts(Some(b"1"), [&b"-1"[..]].into_iter(), 1, false).is_err());
    }
}
