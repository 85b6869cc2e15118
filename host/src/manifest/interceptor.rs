//! Interceptor manifests: the `plugin.toml` of a component of the
//! `rill:interceptor` world (wit/interceptor/interceptor.wit).
//!
//! ```toml
//! manifest-version = 1
//! kind = "interceptor"
//! name = "consumer-interceptor"
//! version = "0.1.0"
//! component = "consumer-interceptor.wasm"   # relative to this file
//! events = ["consume", "commit"]            # the calls the host makes
//!
//! [config]
//! dir = "/logs"
//!
//! [limits]
//! memory = "32MiB"
//! time-per-batch = "500ms"
//!
//! [[grants]]                                # as for processors (docs/manifest.md)
//! dir = "logs"
//! guest = "/logs"
//! access = "append"
//! max-size = "64MiB"
//! create = true
//! ```
//!
//! `events` says which of the four calls the host makes, so an interceptor
//! that only logs commits costs nothing per record. There is no `on-trap`:
//! an interceptor that traps or errs is always logged, counted and skipped
//! (Kafka's rule), never allowed to stop or lose records.

use super::raw::{RawGrant, RawLimits, syntax, versioned_table};
use super::problems::Problems;
use super::validate::{check_identity, check_limits, toml_to_json};
use super::{Limits, ManifestError, ManifestErrors};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// One of the four calls of the interceptor world, as `events` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InterceptEvent {
    /// `on-consume`: records read, before the first processor.
    Consume,
    /// `on-commit`: offsets committed.
    Commit,
    /// `on-send`: output records, before they are produced.
    Send,
    /// `on-acknowledgement`: the brokers' answers to sent records.
    Acknowledgement,
}

impl InterceptEvent {
    /// Every event, in the order of the world's exports.
    pub const ALL: [InterceptEvent; 4] = [
        InterceptEvent::Consume,
        InterceptEvent::Commit,
        InterceptEvent::Send,
        InterceptEvent::Acknowledgement,
    ];

    /// The name in `events` and the `event` label of the metrics.
    pub fn name(self) -> &'static str {
        match self {
            InterceptEvent::Consume => "consume",
            InterceptEvent::Commit => "commit",
            InterceptEvent::Send => "send",
            InterceptEvent::Acknowledgement => "acknowledgement",
        }
    }
}

/// A validated interceptor manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct InterceptorManifest {
    /// The file it was loaded from, for messages and hot reload.
    pub path: PathBuf,
    /// Its name: tags its log lines and labels its metrics.
    pub name: String,
    /// Its own version, reported with its content hash.
    pub version: String,
    /// Optional one-line description for `rill describe`.
    pub description: Option<String>,
    /// The component file, resolved against the manifest's directory.
    pub component: PathBuf,
    /// The calls the host makes, sorted, never empty.
    pub events: Vec<InterceptEvent>,
    /// Memory and time per call (`on-trap` does not apply).
    pub limits: Limits,
    /// The `[config]` table as a JSON object, handed to `init`.
    pub config: serde_json::Value,
    /// `[[grants]]`: the only directories its sandbox reaches.
    pub grants: Vec<super::GrantSpec>,
}

impl InterceptorManifest {
    /// Reads and validates the interceptor manifest at `path`.
    pub fn load(path: &Path) -> Result<InterceptorManifest, ManifestErrors> {
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
            file: path.to_path_buf(),
            source,
        })?;
        InterceptorManifest::parse(path, &text)
    }

    /// Validates interceptor manifest `text`; `path` names it in messages
    /// and anchors the component path.
    pub fn parse(path: &Path, text: &str) -> Result<InterceptorManifest, ManifestErrors> {
        let table = versioned_table(path, text)?;
        if table.get("kind").and_then(toml::Value::as_str) != Some("interceptor") {
            return Err(ManifestError::Invalid {
                file: path.to_path_buf(),
                field: "kind".into(),
                problem: match table.get("kind") {
                    None => "is missing, and [[interceptors]] names only interceptor manifests".into(),
                    Some(other) => format!("{other} is not an interceptor"),
                },
                fix: "write `kind = \"interceptor\"` in an interceptor's manifest, or list a processor's manifest under [[processors]]".into(),
            }
            .into());
        }
        let raw: RawInterceptor = toml::from_str(text).map_err(|e| syntax(path, text, &e))?;
        validate(path, raw)
    }

    /// Whether the host makes the call for `event`.
    pub fn handles(&self, event: InterceptEvent) -> bool {
        self.events.contains(&event)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawInterceptor {
    #[allow(dead_code, reason = "checked before the typed parse")]
    manifest_version: i64,
    #[allow(dead_code, reason = "checked before the typed parse")]
    kind: String,
    name: String,
    version: String,
    description: Option<String>,
    component: String,
    events: Vec<String>,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    config: toml::Table,
    #[serde(default)]
    grants: Vec<RawGrant>,
}

fn validate(path: &Path, raw: RawInterceptor) -> Result<InterceptorManifest, ManifestErrors> {
    let mut problems = Problems {
        file: path,
        found: Vec::new(),
    };
    let p = &mut problems;
    check_identity(p, &raw.name, &raw.version, &raw.component);
    let mut events = Vec::new();
    for (i, name) in raw.events.iter().enumerate() {
        match InterceptEvent::ALL.iter().find(|e| e.name() == name) {
            Some(event) if events.contains(event) => p.add(
                &format!("events[{i}]"),
                (format!("\"{name}\" is listed twice"), "list each event once".into()),
            ),
            Some(event) => events.push(*event),
            None => p.add(
                &format!("events[{i}]"),
                (
                    format!("\"{name}\" is not an interceptor event"),
                    "use \"consume\", \"commit\", \"send\" or \"acknowledgement\"".into(),
                ),
            ),
        }
    }
    if raw.events.is_empty() {
        p.add(
            "events",
            (
                "is empty, so the host would never call the interceptor".into(),
                "list the calls it handles, e.g. events = [\"consume\", \"commit\"]".into(),
            ),
        );
    }
    events.sort();
    if raw.limits.on_trap.is_some() {
        p.add(
            "limits.on-trap",
            (
                "does not apply to interceptors: one that traps is always logged, counted and skipped".into(),
                "remove `on-trap`".into(),
            ),
        );
    }
    let limits = check_limits(p, raw.limits);
    let grants = super::grants::check_grants(p, raw.grants);
    if let Some(errors) = ManifestErrors::gather(problems.found) {
        return Err(errors);
    }
    let base = path.parent().unwrap_or(Path::new("."));
    Ok(InterceptorManifest {
        path: path.to_path_buf(),
        name: raw.name,
        version: raw.version,
        description: raw.description,
        component: base.join(&raw.component),
        events,
        limits,
        config: toml_to_json(toml::Value::Table(raw.config)),
        grants,
    })
}

#[cfg(test)]
mod tests {
    //! Golden refusals of `host/tests/manifest-ui/interceptor/`, and a
    //! valid manifest read in full.
    use super::*;

    #[test]
    fn invalid_interceptor_manifests_are_refused_with_their_golden_message() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/manifest-ui/interceptor");
        crate::golden::check_refusals(&dir, 5, |shown, text| {
            InterceptorManifest::parse(shown, text)
                .expect_err(&format!("{} must be refused", shown.display()))
                .to_string()
        });
    }

    #[test]
    fn a_valid_manifest_keeps_its_events_sorted_and_its_config() {
        let text = r#"
manifest-version = 1
kind = "interceptor"
name = "audit"
version = "0.1.0"
component = "audit.wasm"
events = ["send", "consume"]
[limits]
memory = "16MiB"
[config]
dir = "/logs"
"#;
        let m = InterceptorManifest::parse(Path::new("x/plugin.toml"), text).unwrap();
        assert_eq!(m.events, [InterceptEvent::Consume, InterceptEvent::Send]);
        assert!(m.handles(InterceptEvent::Send) && !m.handles(InterceptEvent::Commit));
        assert_eq!(m.limits.memory, 16 << 20);
        assert_eq!(m.config, serde_json::json!({"dir": "/logs"}));
        assert_eq!(m.component, Path::new("x/audit.wasm"));
    }

    #[test]
    fn a_processor_manifest_names_an_interceptor_as_the_wrong_kind() {
        let text = "manifest-version = 1\nkind = \"interceptor\"\nname = \"a\"\n";
        let error = crate::manifest::Manifest::parse(Path::new("p.toml"), text).unwrap_err();
        assert!(
            error.to_string().contains("declare it under [[interceptors]]"),
            "{error}"
        );
    }
}
