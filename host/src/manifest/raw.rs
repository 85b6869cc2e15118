//! The manifest as written: serde structs that mirror the TOML exactly and
//! reject unknown keys. Semantic checks live in `validate`.

use super::{InputKind, MANIFEST_VERSION, ManifestError};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawManifest {
    #[allow(dead_code, reason = "checked before the typed parse")]
    pub manifest_version: i64,
    pub name: String,
    pub version: String,
    pub description: Option<String>,
    pub component: String,
    pub inputs: Vec<RawInput>,
    #[serde(default)]
    pub outputs: BTreeMap<String, RawOutput>,
    pub dead_letter: RawTopic,
    #[serde(default)]
    pub stores: Vec<String>,
    #[serde(default)]
    pub windows: BTreeMap<String, RawWindow>,
    /// `[store-codecs]`: codec name by store; checked in `codecs.rs`.
    #[serde(default)]
    pub store_codecs: BTreeMap<String, String>,
    /// `[joins.<name>]`: stream-stream windowed joins, by name.
    #[serde(default)]
    pub joins: BTreeMap<String, RawJoin>,
    #[serde(default)]
    pub timers: Vec<RawTimer>,
    /// `[[interceptors]]`: interceptor manifests for this processor.
    #[serde(default)]
    pub interceptors: Vec<RawInterceptorRef>,
    pub idle_advance: Option<String>,
    #[serde(default)]
    pub limits: RawLimits,
    #[serde(default)]
    pub config: toml::Table,
    /// `[fields]` as written; its key order is in `fields_order`.
    #[serde(default)]
    pub fields: toml::Table,
    /// The keys of `[fields]` in the order the file writes them (the order
    /// a component receives fields in), read with `toml_edit`.
    #[serde(skip)]
    pub fields_order: Vec<String>,
    pub input_value: Option<String>,
    /// `[[grants]]`: directories the plugin may use.
    #[serde(default)]
    pub grants: Vec<RawGrant>,
}

/// One `[[grants]]` entry as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawGrant {
    pub dir: String,
    pub guest: Option<String>,
    pub access: super::GrantAccess,
    pub max_size: Option<String>,
    #[serde(default)]
    pub create: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawLimits {
    pub memory: Option<String>,
    pub time_per_batch: Option<String>,
    pub on_trap: Option<super::OnTrap>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawWindow {
    pub kind: super::WindowShape,
    pub size: Option<String>,
    pub advance: Option<String>,
    pub gap: Option<String>,
    pub time_difference: Option<String>,
    pub grace: Option<String>,
    pub retention: Option<String>,
    pub emit: super::Emit,
    pub output: String,
    #[serde(default)]
    pub late: super::Late,
    #[serde(default)]
    pub keyless: super::Keyless,
    pub aggregate: Option<String>,
}

/// One `[joins.<name>]` as written; checked in `joins.rs`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawJoin {
    pub left: String,
    pub right: String,
    pub kind: String,
    pub before: Option<String>,
    pub after: Option<String>,
    pub time_difference: Option<String>,
    pub grace: Option<String>,
    pub output: String,
    #[serde(default)]
    pub keyless: super::JoinKeyless,
    /// Set: a foreign-key table-table join (`fk_joins.rs`).
    pub foreign_key: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub(super) struct RawTimer {
    pub name: String,
    pub clock: super::TimerClock,
    pub interval: String,
    #[serde(default)]
    pub aligned: bool,
}

/// One `[[interceptors]]` entry: the interceptor's manifest, relative to
/// the file that declares it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawInterceptorRef {
    pub manifest: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawInput {
    pub topic: String,
    #[serde(default = "stream")]
    pub kind: InputKind,
}

fn stream() -> InputKind {
    InputKind::Stream
}

/// A topic written either as `"name"` or as `{ topic = "name", partitions = N }`.
#[derive(Debug)]
pub(super) struct RawTopic {
    pub topic: String,
    pub partitions: Option<i64>,
}

/// Read as an output entry, then held to one fixed topic: the keys only
/// an output may have are refused as unknown here.
impl<'de> Deserialize<'de> for RawTopic {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let output = RawOutput::deserialize(deserializer)?;
        let only = "expected `topic` or `partitions`";
        if output.topic_pattern.is_some() {
            return Err(de::Error::custom(format!("unknown field `topic-pattern`, {only}")));
        }
        if output.create.is_some() {
            return Err(de::Error::custom(format!("unknown field `create`, {only}")));
        }
        let topic = output.topic.ok_or_else(|| de::Error::missing_field("topic"))?;
        Ok(RawTopic {
            topic,
            partitions: output.partitions,
        })
    }
}

/// An `[outputs]` entry as written: a topic (`"name"`, `{ topic = "name",
/// partitions = N }`) or a pattern the plugin picks a topic in per record
/// (`{ topic-pattern = "...", create = false }`). Which keys go together is
/// checked in `validate`, where the error can name the field and the fix.
#[derive(Debug)]
pub(super) struct RawOutput {
    pub topic: Option<String>,
    pub topic_pattern: Option<String>,
    pub partitions: Option<i64>,
    pub create: Option<bool>,
}

impl<'de> Deserialize<'de> for RawOutput {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OutputVisitor;
        impl<'de> Visitor<'de> for OutputVisitor {
            type Value = RawOutput;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    r#"a topic name ("name") or a table ({ topic = "name", partitions = 3 } or { topic-pattern = "alerts\..+" })"#,
                )
            }
            fn visit_str<E: de::Error>(self, topic: &str) -> Result<RawOutput, E> {
                Ok(RawOutput {
                    topic: Some(topic.to_string()),
                    topic_pattern: None,
                    partitions: None,
                    create: None,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawOutput, A::Error> {
                #[derive(Deserialize)]
                #[serde(deny_unknown_fields, rename_all = "kebab-case")]
                struct Table {
                    topic: Option<String>,
                    topic_pattern: Option<String>,
                    partitions: Option<i64>,
                    create: Option<bool>,
                }
                let t = Table::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(RawOutput {
                    topic: t.topic,
                    topic_pattern: t.topic_pattern,
                    partitions: t.partitions,
                    create: t.create,
                })
            }
        }
        deserializer.deserialize_any(OutputVisitor)
    }
}

/// Parses `text` as TOML and checks `manifest-version`: the first steps
/// every kind of manifest (processor or interceptor) takes.
pub(super) fn versioned_table(path: &Path, text: &str) -> Result<toml::Table, ManifestError> {
    let table: toml::Table = toml::from_str(text).map_err(|e| syntax(path, text, &e))?;
    match table.get("manifest-version") {
        None => Err(ManifestError::Invalid {
            file: path.to_path_buf(),
            field: "manifest-version".into(),
            problem: "missing".into(),
            fix: format!("add `manifest-version = {MANIFEST_VERSION}` as the first line"),
        }),
        Some(toml::Value::Integer(MANIFEST_VERSION)) => Ok(table),
        Some(other) => Err(ManifestError::Invalid {
            file: path.to_path_buf(),
            field: "manifest-version".into(),
            problem: format!("this rill reads manifest version {MANIFEST_VERSION}, not {other}"),
            fix: format!("write `manifest-version = {MANIFEST_VERSION}`, or run a rill that supports version {other}"),
        }),
    }
}

/// Parses `text`: syntax first, then `manifest-version`, then the schema.
pub(super) fn parse(path: &Path, text: &str) -> Result<RawManifest, ManifestError> {
    let table = versioned_table(path, text)?;
    if table.get("kind").and_then(toml::Value::as_str) == Some("interceptor") {
        return Err(ManifestError::Invalid {
            file: path.to_path_buf(),
            field: "kind".into(),
            problem: "this is an interceptor's manifest, not a processor's".into(),
            fix: "declare it under [[interceptors]] manifest = \"...\" in an application file or a processor's plugin.toml (docs/interceptors.md)".into(),
        });
    }
    let mut raw: RawManifest = toml::from_str(text).map_err(|e| syntax(path, text, &e))?;
    // `toml::Table` sorts its keys; the declaration order of `[fields]` is
    // part of the contract with the component, so it is read separately.
    if let Ok(document) = text.parse::<toml_edit::DocumentMut>()
        && let Some(fields) = document.get("fields").and_then(|f| f.as_table_like())
    {
        raw.fields_order = fields.iter().map(|(key, _)| key.to_string()).collect();
    }
    Ok(raw)
}

pub(super) fn syntax(path: &Path, text: &str, error: &toml::de::Error) -> ManifestError {
    let offset = error.span().map_or(0, |s| s.start);
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    let message = error.message().trim().to_string();
    let fix = if message.starts_with("unknown field") {
        "remove the key or correct its spelling (docs/manifest.md lists every key)"
    } else if message.starts_with("missing field") {
        "add the key (docs/manifest.md lists every key and an example)"
    } else if message.starts_with("unknown variant") {
        "use one of the values listed"
    } else if message.starts_with("invalid type") {
        "give the value the type named above"
    } else {
        "correct the TOML at that position"
    };
    ManifestError::Syntax {
        file: path.to_path_buf(),
        line,
        column,
        message,
        fix: fix.to_string(),
    }
}
