//! [`JsonLines`]: an append-only file of JSON objects, one per line (an
//! audit log, what the seed's logging interceptors write), and [`Line`],
//! which writes one object's fields straight into its buffer: no
//! `serde_json::Value` is built per line, strings are escaped by a byte
//! loop, and the bytes are serde_json's (and Python's `json.dumps` with
//! `separators=(",", ":"), ensure_ascii=False`) for the same fields.

use crate::Error;

/// An append-only file of JSON objects, one per line: lines are buffered
/// during a batch ([`JsonLines::line`] or [`JsonLines::push`]) and written
/// by [`JsonLines::flush`] (from `end_batch`, so nothing waits past the
/// call), whole lines packed into writes of at most [`APPEND_CHUNK`] bytes.
/// Instances of an interceptor on several worker threads append to the
/// same file; a write the file's stream takes in one piece is appended
/// whole, so a write of whole lines within one piece keeps every line whole
/// (a line longer than that is written alone and may interleave with
/// another instance's). The file must be in a directory the manifest
/// grants (`[[grants]]`).
pub struct JsonLines {
    file: std::fs::File,
    pending: Vec<u8>,
    /// Where each buffered line ends in `pending`.
    ends: Vec<usize>,
}

impl JsonLines {
    /// Opens `path` for appending, creating it if missing.
    pub fn open(path: &str) -> Result<Self, Error> {
        let file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .map_err(|e| {
                Error::new(format!(
                    "cannot open {path} for appending (is its directory granted?): {e}"
                ))
            })?;
        Ok(JsonLines {
            file,
            pending: Vec::new(),
            ends: Vec::new(),
        })
    }

    /// Buffers `object` as one line.
    pub fn push(&mut self, object: &serde_json::Value) {
        // A `Value` always serializes.
        let _ = serde_json::to_writer(&mut self.pending, object);
        self.end_line();
    }

    /// Starts one line: an object whose fields the [`Line`]'s methods add
    /// in order, closed when the `Line` is dropped (the end of the
    /// statement that made it):
    ///
    /// ```no_run
    /// # let mut log = rill_sdk::intercept::JsonLines::open("/logs/audit.log").unwrap();
    /// log.line().str("event", "commit").int("offset", 42).text("key", None);
    /// // {"event":"commit","offset":42,"key":null}
    /// ```
    pub fn line(&mut self) -> Line<'_> {
        self.pending.push(b'{');
        Line {
            lines: self,
            first: true,
        }
    }

    fn end_line(&mut self) {
        self.pending.push(b'\n');
        self.ends.push(self.pending.len());
    }

    /// Writes the buffered lines: whole lines packed into writes of at
    /// most [`APPEND_CHUNK`] bytes (a longer line alone).
    pub fn flush(&mut self) -> Result<(), Error> {
        use std::io::Write;
        let mut written = Ok(());
        for write in packed(&self.ends, APPEND_CHUNK) {
            written = written.and_then(|()| self.file.write_all(&self.pending[write]));
        }
        self.pending.clear();
        self.ends.clear();
        written.map_err(|e| Error::new(format!("writing the log: {e}")))
    }
}

/// One line of a [`JsonLines`] being written: a JSON object whose fields
/// go into the buffer as they are added, closed (`}` and the newline) on
/// drop.
pub struct Line<'a> {
    lines: &'a mut JsonLines,
    first: bool,
}

impl Line<'_> {
    fn name(&mut self, name: &str) -> &mut Vec<u8> {
        let buffer = &mut self.lines.pending;
        if !std::mem::take(&mut self.first) {
            buffer.push(b',');
        }
        escape_into(buffer, name.as_bytes());
        buffer.push(b':');
        buffer
    }

    /// A string field.
    pub fn str(&mut self, name: &str, value: &str) -> &mut Self {
        escape_into(self.name(name), value.as_bytes());
        self
    }

    /// A signed integer field (an `i32` converts).
    pub fn int(&mut self, name: &str, value: i64) -> &mut Self {
        let mut digits = itoa::Buffer::new();
        self.name(name).extend_from_slice(digits.format(value).as_bytes());
        self
    }

    /// An unsigned integer field.
    pub fn uint(&mut self, name: &str, value: u64) -> &mut Self {
        let mut digits = itoa::Buffer::new();
        self.name(name).extend_from_slice(digits.format(value).as_bytes());
        self
    }

    /// Bytes as text ([`text`]'s rule): their UTF-8 text (invalid sequences
    /// replaced by U+FFFD), or `null` for Kafka's null.
    pub fn text(&mut self, name: &str, bytes: Option<&[u8]>) -> &mut Self {
        let buffer = self.name(name);
        match bytes {
            Some(bytes) => text_into(buffer, bytes),
            None => buffer.extend_from_slice(b"null"),
        }
        self
    }

    /// A field whose value is JSON text already (what [`text_json`] made,
    /// say): copied as it is, unchecked.
    pub fn raw(&mut self, name: &str, json: &[u8]) -> &mut Self {
        self.name(name).extend_from_slice(json);
        self
    }
}

impl Drop for Line<'_> {
    fn drop(&mut self) {
        self.lines.pending.push(b'}');
        self.lines.end_line();
    }
}

/// The most bytes a granted file's stream appends in one piece: Rust's
/// `std` on wasm32-wasip2 (wasi-libc) hands a write to the stream whole up
/// to what its `check-write` permits, 64 KiB for rill's (and wasmtime-wasi's)
/// file streams, and the host appends those bytes in one call. A write
/// within it is never split, so it lands whole between other instances'
/// appends to the same file. (Python's runtime goes through WASI preview 1,
/// which splits writes at 4 KiB: its `APPEND_CHUNK` is that.)
pub const APPEND_CHUNK: usize = 64 * 1024;

/// Lines ending at `ends` (offsets into one buffer) grouped into ranges of
/// whole lines of at most `limit` bytes each; a longer line is a range of
/// its own.
pub(super) fn packed(ends: &[usize], limit: usize) -> Vec<std::ops::Range<usize>> {
    let mut writes = Vec::new();
    let (mut start, mut last) = (0, 0);
    for &end in ends {
        if end - start > limit && last > start {
            writes.push(start..last);
            start = last;
        }
        last = end;
    }
    if last > start {
        writes.push(start..last);
    }
    writes
}

/// Bytes as JSON text for a log line: the UTF-8 text (invalid sequences
/// replaced), or `null` for Kafka's null.
pub fn text(bytes: Option<&[u8]>) -> serde_json::Value {
    match bytes {
        Some(bytes) => serde_json::Value::String(String::from_utf8_lossy(bytes).into_owned()),
        None => serde_json::Value::Null,
    }
}

/// [`text`] as the JSON text it serializes to, to keep and copy into a
/// later line with [`Line::raw`] (the producer interceptor's ack repeats
/// its send's key and value) without escaping it again.
pub fn text_json(bytes: Option<&[u8]>) -> Vec<u8> {
    let mut json = Vec::with_capacity(bytes.map_or(4, |b| b.len() + 2));
    match bytes {
        Some(bytes) => text_into(&mut json, bytes),
        None => json.extend_from_slice(b"null"),
    }
    json
}

/// `bytes` as a JSON string: valid UTF-8 escaped as it is, invalid
/// sequences replaced first (as `String::from_utf8_lossy` does).
fn text_into(buffer: &mut Vec<u8>, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(_) => escape_into(buffer, bytes),
        Err(_) => escape_into(buffer, String::from_utf8_lossy(bytes).as_bytes()),
    }
}

/// What byte `b` of a string becomes in JSON: 0 for itself, `u` for
/// `\u00XX`, else the letter after the backslash (serde_json's table).
const ESCAPE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = b'u';
        b += 1;
    }
    table[0x08] = b'b';
    table[0x09] = b't';
    table[0x0a] = b'n';
    table[0x0c] = b'f';
    table[0x0d] = b'r';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

/// Writes UTF-8 `text` as a quoted JSON string, escaping as serde_json
/// does: `"` and `\`, the control characters below U+0020 (`\b`, `\t`,
/// `\n`, `\f`, `\r`, else `\u00xx` in lower-case hex), nothing else.
///
/// Eight bytes are looked at and copied at a time, a whole word even when
/// only the bytes before an escaped one are kept (the rest is cut off and
/// looked at again): in Wasm a copy of a length known only at run time is a
/// `memory.copy`, which wasmtime runs as a call into the host, and JSON
/// values logged as text have a quote every few bytes.
fn escape_into(buffer: &mut Vec<u8>, text: &[u8]) {
    buffer.reserve(text.len() + 2);
    buffer.push(b'"');
    let mut i = 0;
    while let Some(word) = text.get(i..i + 8) {
        let word: [u8; 8] = word.try_into().expect("8 bytes");
        buffer.extend_from_slice(&word);
        let flagged = escapes_in(u64::from_le_bytes(word));
        if flagged == 0 {
            i += 8;
            continue;
        }
        let plain = (flagged.trailing_zeros() / 8) as usize;
        buffer.truncate(buffer.len() - (8 - plain));
        push_escaped(buffer, word[plain]);
        i += plain + 1;
    }
    for &b in &text[i..] {
        match ESCAPE[b as usize] {
            0 => buffer.push(b),
            _ => push_escaped(buffer, b),
        }
    }
    buffer.push(b'"');
}

/// Writes byte `b`, one JSON escapes, escaped.
fn push_escaped(buffer: &mut Vec<u8>, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    match ESCAPE[b as usize] {
        b'u' => buffer.extend_from_slice(&[b'\\', b'u', b'0', b'0', HEX[(b >> 4) as usize], HEX[(b & 0xf) as usize]]),
        letter => buffer.extend_from_slice(&[b'\\', letter]),
    }
}

/// The high bit of each byte of `word` (little-endian) that JSON escapes
/// (below 0x20, `"` or `\`); the lowest one set is exact (higher ones may
/// be set wrongly after it), which is all [`escape_into`] uses.
fn escapes_in(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero_in = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let control = word.wrapping_sub(ONES * 0x20) & !word & HIGH;
    control | zero_in(word ^ (ONES * b'"' as u64)) | zero_in(word ^ (ONES * b'\\' as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_packed_whole_into_chunks_and_a_long_line_goes_alone() {
        // Lines of 1000, 1000, 3000, 5000 and 10 bytes.
        let ends = [1000, 2000, 5000, 10000, 10010];
        assert_eq!(
            packed(&ends, 4096),
            vec![0..2000, 2000..5000, 5000..10000, 10000..10010]
        );
        assert_eq!(packed(&ends, 100_000), vec![0..10010]);
        assert_eq!(packed(&[], 4096), Vec::<std::ops::Range<usize>>::new());
        // Every byte once, in order, and no range over the limit unless one line.
        let ends: Vec<usize> = (1..=50).map(|i| i * 300).collect();
        let writes = packed(&ends, 4096);
        assert_eq!(writes.first().unwrap().start, 0);
        assert_eq!(writes.last().unwrap().end, 15000);
        assert!(writes.windows(2).all(|w| w[0].end == w[1].start));
        assert!(writes.iter().all(|w| w.len() <= 4096 && ends.contains(&w.end)));
    }

    /// Every byte value, multi-byte UTF-8, invalid UTF-8 and JSON's own
    /// quotes inside a value.
    fn awkward() -> Vec<Vec<u8>> {
        let mut every: Vec<u8> = (0u8..0x80).collect();
        every.extend_from_slice("é€😀\u{7f}".as_bytes());
        vec![
            every,
            b"{\"host\":\"a\\\\b\",\"n\":1}\n".to_vec(),
            vec![0xff, b'a', 0xc3, b'"', 0xe2, 0x82],
            Vec::new(),
        ]
    }

    #[test]
    fn a_line_is_byte_for_byte_what_serde_json_writes_for_the_same_object() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let path = file.path().to_str().unwrap();
        let mut log = JsonLines::open(path).unwrap();
        for bytes in awkward() {
            let key = Some(&bytes[..1.min(bytes.len())]);
            log.line()
                .str("event", "consume")
                .str("topic", "metric\t\"all\"")
                .int("partition", (-3i32).into())
                .int("offset", i64::MIN)
                .uint("id", u64::MAX)
                .text("key", key)
                .text("value", Some(&bytes))
                .raw("again", &text_json(Some(&bytes)))
                .text("none", None);
            // The object as serde_json writes it (fields in insertion
            // order: the plugins' build turns on `preserve_order`).
            let mut want = String::from("{\"event\":\"consume\",\"topic\":");
            want += &serde_json::to_string("metric\t\"all\"").unwrap();
            want += &format!(",\"partition\":-3,\"offset\":{},\"id\":{}", i64::MIN, u64::MAX);
            want += &format!(",\"key\":{}", serde_json::to_string(&text(key)).unwrap());
            let value = serde_json::to_string(&text(Some(&bytes))).unwrap();
            want += &format!(",\"value\":{value},\"again\":{value},\"none\":null}}\n");
            let start = log.ends.iter().rev().nth(1).copied().unwrap_or(0);
            assert_eq!(String::from_utf8(log.pending[start..].to_vec()).unwrap(), want);
        }
        log.flush().unwrap();
        let written = std::fs::read_to_string(path).unwrap();
        assert_eq!(written.lines().count(), awkward().len());
        assert!(
            written
                .lines()
                .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
        );
    }

    #[test]
    fn every_byte_at_every_place_of_a_word_escapes_as_serde_json_escapes_it() {
        for b in 0u8..0x80 {
            for at in 0..20 {
                let mut text = vec![b'a'; 20];
                text[at] = b;
                text[19 - at] = b'"';
                let mut got = Vec::new();
                escape_into(&mut got, &text);
                let want = serde_json::to_string(std::str::from_utf8(&text).unwrap()).unwrap();
                assert_eq!(String::from_utf8(got).unwrap(), want, "byte {b:#x} at {at}");
            }
        }
    }

    #[test]
    fn an_empty_line_is_an_empty_object() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let mut log = JsonLines::open(file.path().to_str().unwrap()).unwrap();
        log.line();
        log.push(&serde_json::json!({}));
        assert_eq!(log.pending, b"{}\n{}\n");
        assert_eq!(log.ends, [3, 6]);
    }
}
