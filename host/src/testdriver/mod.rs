//! `rill test`: the broker-free test driver (Kafka Streams'
//! `TopologyTestDriver`, on the real host). A spec file names a manifest or
//! an application file and lists cases: records fed per topic and
//! partition, restarts, and the records expected on each output and
//! dead-letter topic. Each case runs the real task code (task manager,
//! workers, partition groups, batching, RocksDB in a temp dir) over an
//! in-memory sink, with changelogs kept in memory for restores.
//!
//! - [`spec`]: the spec format, parsed with file and line in every error.
//! - [`driver`]: one case on fresh tasks.
//! - [`compare`]: diffs, and observed records as expectations (`--update`).
//! - [`intercepted`]: interceptors per case, their granted directories
//!   moved into a temporary one, and what a case expects they did.
//!
//! The command line is `crate::cli` (`test.rs`); the format is documented
//! in `docs/testing.md`.

pub mod compare;
pub mod driver;
pub mod intercepted;
pub mod json;
pub mod spec;
#[cfg(test)]
mod tests;

use crate::kafka::memory_sink::SentRecord;
use crate::plugin::cache::CompileCache;
use crate::plugin::{Plugin, new_engine};
use crate::runtime::ProcessorDef;
use driver::Application;
use spec::{Expected, Spec};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A problem with a spec file (or what it names), reported as
/// `file:line: message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}{}: {message}", file.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct SpecError {
    /// The spec file.
    pub file: PathBuf,
    /// Its line, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl SpecError {
    /// An error in `file` at `line`.
    pub fn new(file: &Path, line: Option<usize>, message: String) -> Self {
        SpecError {
            file: file.to_path_buf(),
            line,
            message,
        }
    }
}

/// How one case ended.
#[derive(Debug)]
pub struct CaseResult {
    /// The case's name.
    pub name: String,
    /// Diff lines (or why it could not run); empty when it passed.
    pub diff: Vec<String>,
    /// Expectations made of what was observed, per output (`--update`).
    pub observed: BTreeMap<String, Vec<toml_edit::InlineTable>>,
}

/// Where the records of one expectation key go: its topic, and whether it
/// is a dead-letter topic.
#[derive(Clone)]
struct Target {
    topic: String,
    dead_letter: bool,
}

/// A spec file's application, loaded and checked, ready to run its cases.
pub struct Suite {
    spec: Spec,
    app: Application,
    /// Expectation key → topic, for output names and topics.
    targets: BTreeMap<String, Target>,
    /// Topics compared: every output and dead-letter topic written.
    compared: BTreeSet<String>,
    /// The `topic-pattern`s of outputs whose topic is chosen per record: a
    /// topic one matches is an expectation key, and compared when written
    /// or expected.
    patterns: Vec<crate::manifest::TopicPattern>,
    /// The application's interceptors, loaded afresh for each case.
    interceptors: intercepted::Interceptors,
    /// What compiled the plugins; the interceptors of each case too.
    engine: wasmtime::Engine,
    cache: CompileCache,
}

impl Suite {
    /// Loads `path`, the manifests or app it names, and compiles their
    /// plugins (cached under `cache`).
    pub fn load(path: &Path, cache: &Path) -> Result<Suite, SpecError> {
        let spec = Spec::load(path)?;
        let at = spec.file.manifest.span().start;
        let manifest = spec.manifest_path();
        let loaded = crate::app::App::load_args(std::slice::from_ref(&manifest))
            .map_err(|e| spec.error(at, format!("{}: {e}", manifest.display())))?;
        let engine = new_engine().map_err(|e| spec.error(at, e.to_string()))?;
        let cache = CompileCache::new(cache.to_path_buf());
        let mut processors = Vec::new();
        // Loaded once here so a bad interceptor is reported before any case
        // runs; each case loads its own (fresh logs, its own tally).
        let interceptors = intercepted::Interceptors::new(&loaded);
        interceptors.load(&engine, &cache).map_err(|e| spec.error(at, e))?;
        for m in &loaded.processors {
            let plugin = Plugin::load(&engine, m.clone(), Some(&cache))
                .map_err(|e| spec.error(at, format!("{}: {e}", m.name)))?;
            processors.push(ProcessorDef {
                manifest: m.clone(),
                factory: std::sync::Arc::new(plugin),
                interceptors: Vec::new(),
            });
        }
        let app = Application {
            manifests: loaded.processors.clone(),
            connections: loaded.connections.clone(),
            processors,
            application_id: spec
                .file
                .application_id
                .clone()
                .unwrap_or_else(|| "rill-test".to_string()),
        };
        let topology = app.topology();
        crate::runtime::check_pipeline(&app.manifests, &topology).map_err(|e| spec.error(at, e.to_string()))?;
        let written: BTreeSet<String> = topology
            .subtopologies
            .iter()
            .flat_map(|s| &s.sinks)
            .filter(|s| s.kind == "output" || s.kind == "dead-letter")
            .map(|s| s.topic.clone())
            .collect();
        let mut targets = BTreeMap::new();
        for m in &app.manifests {
            for (name, output) in &m.outputs {
                if written.contains(&output.topic) {
                    let target = || Target {
                        topic: output.topic.clone(),
                        dead_letter: false,
                    };
                    targets.insert(name.clone(), target());
                    targets.insert(output.topic.clone(), target());
                }
            }
            targets.insert(
                m.dead_letter.topic.clone(),
                Target {
                    topic: m.dead_letter.topic.clone(),
                    dead_letter: true,
                },
            );
        }
        if let [only] = app.manifests.as_slice() {
            targets.insert(
                "dead-letter".into(),
                Target {
                    topic: only.dead_letter.topic.clone(),
                    dead_letter: true,
                },
            );
        }
        let compared = targets.values().map(|t| t.topic.clone()).collect();
        let patterns = app
            .manifests
            .iter()
            .flat_map(|m| m.routed.values().map(|r| r.pattern.clone()))
            .collect();
        Ok(Suite {
            spec,
            app,
            targets,
            compared,
            patterns,
            interceptors,
            engine,
            cache,
        })
    }

    /// Where the records of expectation key `key` go: an output name or a
    /// written topic, or a topic a `topic-pattern` output may choose.
    fn target(&self, key: &str) -> Option<Target> {
        self.targets.get(key).cloned().or_else(|| {
            self.chosen(key).then(|| Target {
                topic: key.to_string(),
                dead_letter: false,
            })
        })
    }

    /// Whether `topic` is one a `topic-pattern` output may choose.
    fn chosen(&self, topic: &str) -> bool {
        crate::manifest::check_topic_name(topic).is_ok() && self.patterns.iter().any(|p| p.matches(topic))
    }

    /// The spec file.
    pub fn path(&self) -> &Path {
        &self.spec.path
    }

    /// Checks every case (inputs and expectation keys) before any runs, so a
    /// mistake anywhere is reported with its line first.
    pub fn check(&self) -> Result<(), SpecError> {
        let inputs = self.app.input_topics();
        for case in &self.spec.file.cases {
            self.spec.actions(case, &inputs)?;
            self.interceptors.check(&self.spec, case)?;
            for key in case.stores.keys() {
                self.store(key.get_ref())
                    .map_err(|m| self.spec.error(key.span().start, m))?;
            }
            for key in case.expect.keys() {
                if self.target(key.get_ref()).is_none() {
                    let known: Vec<String> = self
                        .targets
                        .keys()
                        .cloned()
                        .chain(self.patterns.iter().map(|p| format!("a topic matching \"{p}\"")))
                        .collect();
                    return Err(self.spec.error(
                        key.span().start,
                        format!(
                            "unknown output or topic \"{}\" in expect; known: {}",
                            key.get_ref(),
                            known.join(", ")
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The (processor, store) a `[case.stores]` key names: a declared
    /// store's name, or `processor/store` when several processors declare
    /// it.
    fn store(&self, name: &str) -> Result<(String, String), String> {
        let (processor, store) = match name.split_once('/') {
            Some((p, s)) => (Some(p), s),
            None => (None, name),
        };
        let mut found = Vec::new();
        let mut known = Vec::new();
        for m in &self.app.manifests {
            for s in &m.stores {
                known.push(format!("{}/{s}", m.name));
                if s == store && processor.is_none_or(|p| p == m.name) {
                    found.push((m.name.clone(), s.clone()));
                }
            }
            if m.windows.iter().any(|w| w.name == store) && processor.is_none_or(|p| p == m.name) {
                return Err(format!(
                    "\"{name}\" is a windowed store: its contents are the host's; check its results as outputs"
                ));
            }
            if m.joins.iter().any(|j| j.stores.iter().any(|s| s == store)) && processor.is_none_or(|p| p == m.name) {
                return Err(format!(
                    "\"{name}\" buffers a stream-stream join: its contents are the host's; check the join's results as outputs"
                ));
            }
            if m.fk_joins.iter().any(|j| j.store == store) && processor.is_none_or(|p| p == m.name) {
                return Err(format!(
                    "\"{name}\" holds a foreign-key join's subscriptions: its contents are the host's; check the join's results as outputs"
                ));
            }
        }
        match found.as_slice() {
            [one] => Ok(one.clone()),
            [] => Err(format!(
                "unknown store \"{name}\" in stores; declared stores: {}",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            )),
            _ => Err(format!(
                "store \"{name}\" is declared by several processors; write one of {}",
                found
                    .iter()
                    .map(|(p, s)| format!("\"{p}/{s}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        }
    }

    /// Runs every case, each on fresh tasks and state.
    pub fn run(&self) -> Vec<CaseResult> {
        let inputs = self.app.input_topics();
        self.spec
            .file
            .cases
            .iter()
            .map(|case| {
                let name = case.name.get_ref().clone();
                let observed = self
                    .spec
                    .actions(case, &inputs)
                    .map_err(|e| e.to_string())
                    .and_then(|actions| {
                        let dir = tempfile::tempdir().map_err(|e| format!("creating a state directory: {e}"))?;
                        let interceptors = self.interceptors.load(&self.engine, &self.cache)?;
                        let observed = self
                            .app
                            .run(&actions, dir.path(), &interceptors.per_processor)
                            .map_err(|e| e.to_string())?;
                        Ok((observed, interceptors))
                    });
                match observed {
                    Ok((observed, interceptors)) => {
                        let mut result = self.compare(case, name, &observed);
                        result.diff.extend(self.interceptors.compare(case, &interceptors));
                        result
                    }
                    Err(error) => CaseResult {
                        name,
                        diff: vec![error],
                        observed: BTreeMap::new(),
                    },
                }
            })
            .collect()
    }

    fn compare(&self, case: &spec::Case, name: String, observed_run: &driver::Observed) -> CaseResult {
        let records = &observed_run.records;
        let mut diff = Vec::new();
        for (key, entries) in &case.stores {
            let Ok(store) = self.store(key.get_ref()) else { continue };
            let held = observed_run.stores.get(&store).map_or(&[][..], Vec::as_slice);
            for entry in entries {
                diff.extend(compare::compare_store_entry(key.get_ref(), entry.get_ref(), held));
            }
        }
        let mut observed = BTreeMap::new();
        let mut expected_by_topic: BTreeMap<String, Vec<Expected>> = BTreeMap::new();
        for (key, records) in &case.expect {
            let topic = self.target(key.get_ref()).expect("checked before running").topic;
            expected_by_topic
                .entry(topic)
                .or_default()
                .extend(records.iter().map(|r| r.get_ref().clone()));
        }
        // Topics chosen per record are compared as those written or expected.
        let mut compared = self.compared.clone();
        compared.extend(
            records
                .iter()
                .filter(|r| self.chosen(&r.topic))
                .map(|r| r.topic.clone()),
        );
        compared.extend(expected_by_topic.keys().cloned());
        for topic in &compared {
            let got: Vec<SentRecord> = records.iter().filter(|r| &r.topic == topic).cloned().collect();
            let want = expected_by_topic.get(topic.as_str()).map_or(&[][..], Vec::as_slice);
            diff.extend(compare::compare_topic(topic, want, &got, case.any_order));
            if !got.is_empty() {
                let dead_letter = self.target(topic).is_some_and(|t| t.dead_letter);
                observed.insert(
                    self.key_for(topic),
                    got.iter().map(|r| compare::expectation(r, dead_letter)).collect(),
                );
            }
        }
        CaseResult { name, diff, observed }
    }

    /// The name `--update` writes for `topic`: the output's name when only
    /// one output has it, else the topic.
    fn key_for(&self, topic: &str) -> String {
        let names: Vec<&String> = self
            .targets
            .iter()
            .filter(|(k, t)| t.topic == topic && *k != topic && !t.dead_letter)
            .map(|(k, _)| k)
            .collect();
        match names.as_slice() {
            [only] => (*only).clone(),
            _ => topic.to_string(),
        }
    }

    /// Rewrites the spec file with each case's observed records as its
    /// expectations (`--update`), keeping everything else as written.
    pub fn update(&self, results: &[CaseResult]) -> Result<(), SpecError> {
        if self.spec.json_lines.is_some() {
            return self.update_json(results);
        }
        let mut doc: toml_edit::DocumentMut = self
            .spec
            .text
            .parse()
            .map_err(|e| SpecError::new(&self.spec.path, None, format!("cannot edit: {e}")))?;
        let Some(cases) = doc.get_mut("case").and_then(toml_edit::Item::as_array_of_tables_mut) else {
            return Ok(());
        };
        for (table, result) in cases.iter_mut().zip(results) {
            table.remove("expect");
            let mut expect = toml_edit::Table::new();
            for (key, records) in &result.observed {
                let mut array = toml_edit::Array::new();
                for record in records {
                    let mut value = toml_edit::Value::InlineTable(record.clone());
                    value.decor_mut().set_prefix("\n  ");
                    array.push_formatted(value);
                }
                array.set_trailing("\n");
                array.set_trailing_comma(true);
                expect.insert(key, toml_edit::value(array));
            }
            table.insert("expect", toml_edit::Item::Table(expect));
        }
        std::fs::write(&self.spec.path, doc.to_string())
            .map_err(|e| SpecError::new(&self.spec.path, None, format!("cannot write: {e}")))
    }
}

impl Suite {
    /// `--update` of a JSON spec: each case's `expect` replaced by the
    /// observed records (as JSON), the rest kept; written back as JSON.
    fn update_json(&self, results: &[CaseResult]) -> Result<(), SpecError> {
        let path = &self.spec.path;
        let fail = |e: String| SpecError::new(path, None, e);
        let text = std::fs::read_to_string(path).map_err(|e| fail(format!("cannot read: {e}")))?;
        let mut doc: serde_json::Value = serde_json::from_str(&text).map_err(|e| fail(format!("cannot edit: {e}")))?;
        if let Some(cases) = doc.get_mut("case").and_then(serde_json::Value::as_array_mut) {
            for (case, result) in cases.iter_mut().zip(results) {
                let Some(case) = case.as_object_mut() else { continue };
                let expect: serde_json::Map<String, serde_json::Value> = result
                    .observed
                    .iter()
                    .map(|(key, records)| {
                        let records = records
                            .iter()
                            .map(|r| {
                                let value: toml::Value = toml::from_str(&format!("r = {r}"))
                                    .ok()
                                    .and_then(|t: toml::Table| t.get("r").cloned())
                                    .unwrap_or(toml::Value::Table(toml::Table::new()));
                                spec::to_json(&value)
                            })
                            .collect();
                        (key.clone(), serde_json::Value::Array(records))
                    })
                    .collect();
                case.insert("expect".into(), serde_json::Value::Object(expect));
            }
        }
        let text = serde_json::to_string_pretty(&doc).map_err(|e| fail(format!("cannot write: {e}")))?;
        std::fs::write(path, text + "\n").map_err(|e| fail(format!("cannot write: {e}")))
    }
}

/// The spec files `paths` stand for: files as given; for a folder, the
/// `*.toml` and `*.json` files of its `tests/` folder (or of the folder itself when it
/// is named `tests`), sorted.
pub fn spec_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, SpecError> {
    let mut files = Vec::new();
    for path in paths {
        if !path.is_dir() {
            if !path.exists() {
                return Err(SpecError::new(path, None, "no such file or folder".into()));
            }
            files.push(path.clone());
            continue;
        }
        let dir = if path.file_name().is_some_and(|n| n == "tests") {
            path.clone()
        } else {
            path.join("tests")
        };
        let entries = std::fs::read_dir(&dir)
            .map_err(|e| SpecError::new(&dir, None, format!("cannot list the spec files: {e}")))?;
        let mut found: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml" || e == "json"))
            .collect();
        if found.is_empty() {
            return Err(SpecError::new(
                &dir,
                None,
                "holds no *.toml or *.json spec files".into(),
            ));
        }
        found.sort();
        files.extend(found);
    }
    Ok(files)
}
