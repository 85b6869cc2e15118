//! The `rill test` spec file: what a test case feeds and what it expects,
//! parsed with every position kept, so a mistake is reported with its file
//! and line (see `docs/testing.md` for the schema).

use super::SpecError;
use super::json::line_of;
use base64::Engine as _;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::Spanned;

/// A spec file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SpecFile {
    /// The plugin manifest or application file under test, relative to the
    /// spec file.
    pub manifest: Spanned<String>,
    /// Application id: the prefix of changelog topics.
    #[serde(default)]
    pub application_id: Option<String>,
    /// The test cases, in order.
    #[serde(default, rename = "case")]
    pub cases: Vec<Case>,
}

/// One test case: steps fed to fresh tasks, then the expected topics.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Case {
    /// Printed on the case's line and in its diffs.
    pub name: Spanned<String>,
    /// Records and steps, in order.
    #[serde(default)]
    pub input: Vec<Spanned<Step>>,
    /// Per output name (or topic, dead-letter topics included): the records
    /// expected there. Topics not named must stay empty.
    #[serde(default)]
    pub expect: BTreeMap<Spanned<String>, Vec<Spanned<Expected>>>,
    /// Compare each topic's records as a multiset instead of in order.
    #[serde(default)]
    pub any_order: bool,
    /// Per declared store: entries expected in the task's RocksDB store
    /// after the case (a key with its value, or absent).
    #[serde(default)]
    pub stores: BTreeMap<Spanned<String>, Vec<Spanned<StoreEntry>>>,
    /// Per file an interceptor wrote in a granted directory (the grant's
    /// `dir` as its manifest writes it, then the file's path inside): the
    /// lines expected there, in order (`any-order` compares them as a
    /// multiset). Files not named are not checked.
    #[serde(default)]
    pub files: BTreeMap<Spanned<String>, Vec<Spanned<ExpectedLine>>>,
    /// Per interceptor (its manifest `name`): how often it was called, and
    /// how many of those calls failed, over every task of the case.
    #[serde(default)]
    pub interceptors: BTreeMap<Spanned<String>, Spanned<InterceptorCounts>>,
}

/// One expected line of a file an interceptor wrote: exactly one of
/// `line` (the whole line), `json` (the line parsed as JSON, compared as
/// JSON) and `contains` (text the line contains).
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ExpectedLine {
    /// The whole line, without its newline.
    pub line: Option<String>,
    /// The line as JSON, written as TOML.
    pub json: Option<toml::Value>,
    /// Text the line contains.
    pub contains: Option<String>,
}

/// How often one interceptor was called (`calls`) and how many of those
/// calls failed (`errors`: an error, a trap, a limit, the wrong number of
/// actions): each a total, or a table per event (`consume`, `commit`,
/// `send`, `acknowledgement`; events left out are not checked).
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct InterceptorCounts {
    /// Calls: a number, or a table of event to number.
    pub calls: Option<toml::Value>,
    /// Failed calls: a number, or a table of event to number.
    pub errors: Option<toml::Value>,
}

/// One expected entry of a store: a key and its value (same forms as a
/// record's), or `absent = true`. `partition` narrows it to one task's
/// store; without it every partition's store is looked in.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct StoreEntry {
    /// Key as text.
    pub key: Option<String>,
    /// Key as base64.
    pub key_base64: Option<String>,
    /// Value as text.
    pub value: Option<String>,
    /// Value as JSON (compared as JSON).
    pub json: Option<toml::Value>,
    /// Value as base64.
    pub base64: Option<String>,
    /// `absent = true`: the key must not be in the store.
    pub absent: Option<bool>,
    /// The partition whose task's store holds it.
    pub partition: Option<i32>,
}

/// One entry of `input`: a record, or a step (`restart`, `advance`).
/// Written flat so that every field is checked against one list.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Step {
    /// Input topic; may be left out when the application has one.
    pub topic: Option<String>,
    /// Input partition (0 when left out).
    pub partition: Option<i32>,
    /// Key as text.
    pub key: Option<String>,
    /// Key as base64.
    pub key_base64: Option<String>,
    /// Value as text.
    pub value: Option<String>,
    /// Value as JSON, written as TOML.
    pub json: Option<toml::Value>,
    /// Value as base64.
    pub base64: Option<String>,
    /// Milliseconds since the epoch (0 when left out).
    pub timestamp: Option<i64>,
    /// Headers as text.
    pub headers: Option<BTreeMap<String, String>>,
    /// `restart = true`: close every task, drop its local state, restore
    /// it from the changelogs collected so far and go on.
    pub restart: Option<bool>,
    /// `advance = "stream-time" | "wall-clock"`: move that clock.
    pub advance: Option<String>,
    /// Where `advance` moves its clock to (ms).
    pub to: Option<i64>,
    /// `advance = "wall-clock"`: how far to move it (ms, or a duration
    /// such as "90s").
    pub by: Option<toml::Value>,
    /// `rebalance = true`: the partitions (or `partition`) move away and
    /// back: their tasks close with a checkpoint and are restored.
    pub rebalance: Option<bool>,
}

/// One expected record. `key` and the value (`value`, `json`, `base64`;
/// none of them is a null value) are always compared; `timestamp`,
/// `headers`, `error` and `error-kind` only when given.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Expected {
    /// Key as text (none: a null key).
    pub key: Option<String>,
    /// Key as base64.
    pub key_base64: Option<String>,
    /// Value as text.
    pub value: Option<String>,
    /// Value as JSON (compared as JSON, not as text).
    pub json: Option<toml::Value>,
    /// Value as base64.
    pub base64: Option<String>,
    /// Timestamp.
    pub timestamp: Option<i64>,
    /// Headers that must be present with these values (others are ignored).
    pub headers: Option<BTreeMap<String, String>>,
    /// Dead letters: text the `rill.error` header must contain.
    pub error: Option<String>,
    /// Dead letters: the `rill.error.kind` header.
    pub error_kind: Option<String>,
}

/// A record to feed, decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct Feed {
    /// Input topic.
    pub topic: String,
    /// Input partition.
    pub partition: i32,
    /// Key.
    pub key: Option<Vec<u8>>,
    /// Value.
    pub value: Option<Vec<u8>>,
    /// Timestamp.
    pub timestamp: i64,
    /// Headers.
    pub headers: Vec<(String, Vec<u8>)>,
    /// Line in the spec file.
    pub line: usize,
}

/// What the driver does, step by step.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Feed a record.
    Record(Feed),
    /// Close the tasks, drop local state, restore from the changelogs.
    Restart,
    /// Revoke the tasks (of one partition number, or all) and assign them
    /// again: they close with a checkpoint and restore what it lacks.
    Rebalance(Option<i32>),
    /// Move every task's stream time (of one partition number, or all) to
    /// this time.
    StreamTime(i64, Option<i32>),
    /// Move the wall clock to this time (ms since the epoch).
    WallClockTo(i64),
    /// Move the wall clock on by this many ms.
    WallClockBy(i64),
}

/// A spec file read and parsed, with its text kept for line numbers and
/// `--update`.
#[derive(Debug)]
pub struct Spec {
    /// The spec file.
    pub path: PathBuf,
    /// Its text as TOML (a JSON spec rewritten, see [`super::json`]).
    pub text: String,
    /// What it says.
    pub file: SpecFile,
    /// A JSON spec: the JSON line of each line of `text`.
    pub json_lines: Option<super::json::Rewritten>,
}

impl Spec {
    /// Reads and parses `path`; a syntax error or unknown field is reported
    /// with its line.
    pub fn load(path: &Path) -> Result<Spec, SpecError> {
        let text = std::fs::read_to_string(path).map_err(|e| SpecError::new(path, None, format!("cannot read: {e}")))?;
        if path.extension().is_some_and(|e| e == "json") {
            return Spec::parse_json(path, &text);
        }
        Spec::parse(path, text)
    }

    /// Parses the JSON spec `text` as the spec file `path`: the same
    /// structure as TOML, errors with their JSON line.
    pub fn parse_json(path: &Path, text: &str) -> Result<Spec, SpecError> {
        let rewritten =
            super::json::rewrite(text).map_err(|(line, message)| SpecError::new(path, Some(line), message))?;
        let file: SpecFile = toml::from_str(&rewritten.toml).map_err(|e| {
            let line = e.span().map(|s| rewritten.json_line(s.start));
            SpecError::new(path, line, e.message().trim().to_string())
        })?;
        Ok(Spec {
            path: path.to_path_buf(),
            text: rewritten.toml.clone(),
            file,
            json_lines: Some(rewritten),
        })
    }

    /// Parses `text` as the spec file `path`.
    pub fn parse(path: &Path, text: String) -> Result<Spec, SpecError> {
        let file: SpecFile = toml::from_str(&text).map_err(|e| {
            let line = e.span().map(|s| line_of(&text, s.start));
            SpecError::new(path, line, e.message().trim().to_string())
        })?;
        Ok(Spec {
            path: path.to_path_buf(),
            text,
            file,
            json_lines: None,
        })
    }

    /// The line of byte offset `at`.
    pub fn line(&self, at: usize) -> usize {
        match &self.json_lines {
            Some(json) => json.json_line(at),
            None => line_of(&self.text, at),
        }
    }

    /// An error at byte offset `at` of this file.
    pub fn error(&self, at: usize, message: impl Into<String>) -> SpecError {
        SpecError::new(&self.path, Some(self.line(at)), message.into())
    }

    /// The manifest or app file, resolved against the spec's folder.
    pub fn manifest_path(&self) -> PathBuf {
        self.path
            .parent()
            .unwrap_or(Path::new("."))
            .join(self.file.manifest.get_ref())
    }

    /// Decodes a case's input into actions; `inputs` are the topics the
    /// application reads. Anything this version cannot do is refused.
    pub fn actions(&self, case: &Case, inputs: &[String]) -> Result<Vec<Action>, SpecError> {
        let mut actions = Vec::new();
        for step in &case.input {
            let at = step.span().start;
            let line = self.line(at);
            let s = step.get_ref();
            let record_fields = s.topic.is_some()
                || s.key.is_some()
                || s.key_base64.is_some()
                || s.value.is_some()
                || s.json.is_some()
                || s.base64.is_some()
                || s.timestamp.is_some()
                || s.headers.is_some();
            let steps = [s.restart.is_some(), s.rebalance.is_some(), s.advance.is_some()];
            if steps.iter().filter(|&&b| b).count() > 1 || (steps.contains(&true) && record_fields) {
                return Err(self.error(
                    at,
                    "one entry is a record, a restart, a rebalance or an advance step, not several",
                ));
            }
            if s.advance.is_none() && (s.to.is_some() || s.by.is_some()) {
                return Err(self.error(at, "`to` and `by` belong to an `advance` step"));
            }
            let partition = match s.partition {
                Some(p) if !(0..1024).contains(&p) => {
                    return Err(self.error(at, format!("partition {p} is out of range (0 to 1023)")));
                }
                p => p,
            };
            if let Some(restart) = s.restart {
                if !restart || partition.is_some() {
                    return Err(self.error(at, "a restart step is written { restart = true }, with nothing else"));
                }
                actions.push(Action::Restart);
                continue;
            }
            if let Some(rebalance) = s.rebalance {
                if !rebalance {
                    return Err(self.error(at, "a rebalance step is written { rebalance = true } (optionally with partition = N)"));
                }
                actions.push(Action::Rebalance(partition));
                continue;
            }
            if let Some(kind) = &s.advance {
                actions.push(self.advance(at, kind, s, partition)?);
                continue;
            }
            let topic = match &s.topic {
                Some(topic) if inputs.contains(topic) => topic.clone(),
                Some(topic) => {
                    return Err(self.error(
                        at,
                        format!("unknown input topic \"{topic}\"; the application reads {}", inputs.join(", ")),
                    ));
                }
                None if inputs.len() == 1 => inputs[0].clone(),
                None => {
                    return Err(self.error(
                        at,
                        format!("say which topic: the application reads {}", inputs.join(", ")),
                    ));
                }
            };
            let partition = partition.unwrap_or(0);
            let key = bytes(s.key.as_deref(), s.key_base64.as_deref(), None, "key", "key-base64")
                .map_err(|m| self.error(at, m))?;
            let value = bytes(s.value.as_deref(), s.base64.as_deref(), s.json.as_ref(), "value", "base64")
                .map_err(|m| self.error(at, m))?;
            actions.push(Action::Record(Feed {
                topic,
                partition,
                key,
                value,
                timestamp: s.timestamp.unwrap_or(0),
                headers: s
                    .headers
                    .iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), v.as_bytes().to_vec()))
                    .collect(),
                line,
            }));
        }
        Ok(actions)
    }

    /// An `advance` step at byte `at`.
    fn advance(&self, at: usize, kind: &str, s: &Step, partition: Option<i32>) -> Result<Action, SpecError> {
        match kind {
            "stream-time" => match (s.to, &s.by) {
                (Some(to), None) => Ok(Action::StreamTime(to, partition)),
                _ => Err(self.error(
                    at,
                    "advance = \"stream-time\" takes `to` (ms): stream time is per task, so there is no `by`",
                )),
            },
            "wall-clock" if partition.is_some() => Err(self.error(
                at,
                "advance = \"wall-clock\" moves the one wall clock of every task: drop `partition`",
            )),
            "wall-clock" => match (s.to, &s.by) {
                (Some(to), None) => Ok(Action::WallClockTo(to)),
                (None, Some(by)) => Ok(Action::WallClockBy(duration_ms(by).map_err(|m| self.error(at, m))?)),
                _ => Err(self.error(at, "advance = \"wall-clock\" takes one of `to` (ms) and `by` (ms or \"90s\")")),
            },
            other => Err(self.error(
                at,
                format!("unknown clock advance = \"{other}\"; use \"stream-time\" or \"wall-clock\""),
            )),
        }
    }
}

/// A duration written as milliseconds or as text such as "90s" or "1m 30s".
fn duration_ms(value: &toml::Value) -> Result<i64, String> {
    let ms = match value {
        toml::Value::Integer(ms) => *ms,
        toml::Value::String(text) => humantime::parse_duration(text)
            .map_err(|e| format!("`by` = \"{text}\" is not a duration ({e}); write e.g. \"90s\" or 90000"))
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))?,
        _ => return Err("`by` is milliseconds or a duration such as \"90s\"".to_string()),
    };
    if ms < 0 {
        return Err(format!("`by` = {ms}: the wall clock does not go back"));
    }
    Ok(ms)
}

/// Bytes written as text, base64 or JSON (at most one of them).
fn bytes(
    text: Option<&str>,
    base64: Option<&str>,
    json: Option<&toml::Value>,
    text_name: &str,
    base64_name: &str,
) -> Result<Option<Vec<u8>>, String> {
    match (text, base64, json) {
        (None, None, None) => Ok(None),
        (Some(text), None, None) => Ok(Some(text.as_bytes().to_vec())),
        (None, Some(b64), None) => base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map(Some)
            .map_err(|e| format!("{base64_name} is not valid base64: {e}")),
        (None, None, Some(json)) => serde_json::to_vec(&to_json(json))
            .map(Some)
            .map_err(|e| format!("json cannot be written as JSON: {e}")),
        _ => Err(format!("give at most one of {text_name}, {base64_name} and json")),
    }
}

/// A TOML value as JSON.
pub fn to_json(value: &toml::Value) -> serde_json::Value {
    match value {
        toml::Value::String(s) => serde_json::Value::String(s.clone()),
        toml::Value::Integer(i) => serde_json::Value::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, serde_json::Value::Number),
        toml::Value::Boolean(b) => serde_json::Value::Bool(*b),
        toml::Value::Datetime(d) => serde_json::Value::String(d.to_string()),
        toml::Value::Array(a) => serde_json::Value::Array(a.iter().map(to_json).collect()),
        toml::Value::Table(t) => serde_json::Value::Object(t.iter().map(|(k, v)| (k.clone(), to_json(v))).collect()),
    }
}


impl Expected {
    /// The expected key bytes.
    pub fn key_bytes(&self) -> Result<Option<Vec<u8>>, String> {
        bytes(self.key.as_deref(), self.key_base64.as_deref(), None, "key", "key-base64")
    }
}
