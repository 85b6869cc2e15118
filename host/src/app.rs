//! Application files: several processors, each with its own manifest,
//! connected in memory (Kafka Streams' processor topology).
//!
//! ```toml
//! app-version = 1
//!
//! [[processors]]
//! manifest = "../plugins/metric-branch/plugin.toml"   # relative to this file
//!
//! [[processors]]
//! manifest = "../plugins/cpu-alert/plugin.toml"
//!
//! # metric-branch's output `cpu` feeds cpu-alert's input `metric.cpu` in memory.
//! [[connections]]
//! from = "metric-branch.cpu"
//! to = "cpu-alert"
//! write = true          # also write metric.cpu (the default); false keeps it internal
//! repartition = false   # true: re-key through <application-id>-<from>-<output>-repartition
//!
//! # Interceptors (docs/interceptors.md), called in declaration order; a
//! # processor's own (its plugin.toml's [[interceptors]]) come after these.
//! [[interceptors]]
//! manifest = "../plugins/consumer-interceptor/plugin.toml"
//! processors = ["cpu-alert"]   # optional: only these processors
//! ```
//!
//! Loading refuses, naming the file, the field and the fix: unknown keys, an
//! unsupported `app-version`, a connection from an undeclared output or to a
//! processor that does not read that output's topic, two connections into
//! one input, cycles, and a stateful processor (stores or tables) fed in
//! memory without `repartition = true` (a plugin may change keys, so its
//! records may no longer be on the partition that holds their state).

use crate::manifest::{InterceptorManifest, Manifest, ManifestError, ManifestErrors};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use thiserror::Error;

/// The application file format this build reads.
pub const APP_VERSION: i64 = 1;

/// Why an application file was refused: the whole message a user sees.
#[derive(Debug, Error)]
pub enum AppError {
    /// The file could not be read or parsed.
    #[error("{}: {message}\n  fix: {fix}", file.display())]
    Syntax {
        /// The application file.
        file: PathBuf,
        /// What is wrong.
        message: String,
        /// What to write instead.
        fix: String,
    },
    /// A value is well-formed but not acceptable.
    #[error("{}: `{field}`: {problem}\n  fix: {fix}", file.display())]
    Invalid {
        /// The application file.
        file: PathBuf,
        /// Dotted path of the field, e.g. `connections[0].to`.
        field: String,
        /// What is wrong with its value.
        problem: String,
        /// What to write instead.
        fix: String,
    },
    /// A processor's manifest was refused.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
}

/// Every problem found in an application file and the manifests it names
/// (or in plain manifests), so one run shows them all. Never empty;
/// rendered one message after another.
#[derive(Debug, Error)]
#[error("{}", crate::manifest::render(.0))]
pub struct AppErrors(Vec<AppError>);

impl AppErrors {
    /// The problems, for callers that report or count them one by one.
    pub fn errors(&self) -> &[AppError] {
        &self.0
    }
}

impl From<AppError> for AppErrors {
    fn from(error: AppError) -> Self {
        AppErrors(vec![error])
    }
}

/// Problems of an application being loaded: they are all reported at once.
#[derive(Default)]
struct Found(Vec<AppError>);

impl Found {
    /// Keeps the manifest, or records all of its problems.
    fn manifest(&mut self, loaded: Result<Manifest, ManifestErrors>) -> Option<Manifest> {
        loaded
            .map_err(|errors| self.0.extend(errors.into_errors().into_iter().map(AppError::Manifest)))
            .ok()
    }

    /// Keeps the interceptor manifest, or records all of its problems.
    fn interceptor(&mut self, loaded: Result<InterceptorManifest, ManifestErrors>) -> Option<InterceptorManifest> {
        loaded
            .map_err(|errors| self.0.extend(errors.into_errors().into_iter().map(AppError::Manifest)))
            .ok()
    }

    /// `Err` with every problem if there was any, else `ok`.
    fn finish<T>(self, ok: T) -> Result<T, AppErrors> {
        if self.0.is_empty() {
            Ok(ok)
        } else {
            Err(AppErrors(self.0))
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawApp {
    #[allow(dead_code, reason = "checked before the typed parse")]
    app_version: i64,
    processors: Vec<RawProcessor>,
    #[serde(default)]
    connections: Vec<RawConnection>,
    #[serde(default)]
    interceptors: Vec<RawInterceptor>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawInterceptor {
    manifest: String,
    processors: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProcessor {
    manifest: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConnection {
    from: String,
    to: String,
    #[serde(default = "yes")]
    write: bool,
    #[serde(default)]
    repartition: bool,
}

fn yes() -> bool {
    true
}

/// A validated application: its processors and how they connect.
#[derive(Debug, Clone)]
pub struct App {
    /// The file it was loaded from.
    pub path: PathBuf,
    /// The processors' manifests, in file order.
    pub processors: Vec<Arc<Manifest>>,
    /// In-memory connections between them.
    pub connections: Vec<Connection>,
    /// Interceptors, in the order they are called: the application file's,
    /// then each processor's own (in processor order).
    pub interceptors: Vec<DeclaredInterceptor>,
}

/// An interceptor and the processors it covers.
#[derive(Debug, Clone)]
pub struct DeclaredInterceptor {
    /// Its validated manifest.
    pub manifest: Arc<InterceptorManifest>,
    /// Names of the processors it covers, in application order.
    pub processors: Vec<String>,
}

/// The interceptors processors declare in their own manifests, each
/// covering only its processor; their problems go to `found`.
fn processors_own(
    processors: &[Arc<Manifest>],
    load: &dyn Fn(&Path) -> Result<InterceptorManifest, ManifestErrors>,
    found: &mut Found,
) -> Vec<DeclaredInterceptor> {
    let mut declared = Vec::new();
    for processor in processors {
        for path in &processor.interceptors {
            if let Some(manifest) = found.interceptor(load(&clean(path))) {
                declared.push(DeclaredInterceptor {
                    manifest: Arc::new(manifest),
                    processors: vec![processor.name.clone()],
                });
            }
        }
    }
    declared
}

/// One processor's output feeding another processor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    /// The upstream processor.
    pub from: String,
    /// Its output.
    pub output: String,
    /// The output's topic, which the downstream processor reads.
    pub topic: String,
    /// The downstream processor.
    pub to: String,
    /// Whether the output is also written to its topic.
    pub write: bool,
    /// Whether records go through a repartition topic first.
    pub repartition: bool,
}

impl Connection {
    /// `<application-id>-<from>-<output>-repartition`.
    pub fn repartition_topic(&self, application_id: &str) -> String {
        format!("{application_id}-{}-{}-repartition", self.from, self.output)
    }
}

/// `apps/../plugins/x` as `plugins/x`: manifest paths as a user would write
/// them, in messages and `rill describe` (lexical: no file system access).
fn clean(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut clean = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir if matches!(clean.components().next_back(), Some(Component::Normal(_))) => {
                clean.pop();
            }
            other => clean.push(other),
        }
    }
    clean
}

/// Whether `text` is an application file rather than a plugin manifest.
pub fn is_app(text: &str) -> bool {
    toml::from_str::<toml::Table>(text).is_ok_and(|t| t.contains_key("app-version"))
}

impl App {
    /// The interceptors covering processor `name`, in the order they are
    /// called.
    pub fn interceptors_of<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a DeclaredInterceptor> + 'a {
        self.interceptors
            .iter()
            .filter(move |d| d.processors.iter().any(|p| p == name))
    }

    /// What `rill run` and `rill describe` take: one application file, or
    /// plain manifests (each its own processor, no connections). Every
    /// manifest is checked, and all their problems are reported together.
    pub fn load_args(paths: &[PathBuf]) -> Result<App, AppErrors> {
        if let [only] = paths
            && is_app(&std::fs::read_to_string(only).unwrap_or_default())
        {
            return App::load(only);
        }
        let mut found = Found::default();
        let processors: Vec<Arc<Manifest>> = paths
            .iter()
            .filter_map(|path| found.manifest(Manifest::load(path)).map(Arc::new))
            .collect();
        let interceptors = processors_own(&processors, &|p| InterceptorManifest::load(p), &mut found);
        found.finish(App {
            path: paths.first().cloned().unwrap_or_default(),
            processors,
            connections: Vec::new(),
            interceptors,
        })
    }

    /// Loads and validates the application file at `path`, and every
    /// manifest it names (relative to the file).
    pub fn load(path: &Path) -> Result<App, AppErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| AppError::Syntax {
            file: path.to_path_buf(),
            message: format!("cannot read the application file: {e}"),
            fix: "check the path".into(),
        })?;
        Self::parse(path, &text, &|manifest| Manifest::load(manifest), &|manifest| {
            InterceptorManifest::load(manifest)
        })
    }

    /// Parses `text` as the application file `path`, loading processor
    /// manifests with `load` and interceptor manifests with
    /// `load_interceptor` (tests pass their own). A file that does not
    /// parse is one problem; one that parses is checked in full, with every
    /// manifest.
    pub fn parse(
        path: &Path,
        text: &str,
        load: &dyn Fn(&Path) -> Result<Manifest, ManifestErrors>,
        load_interceptor: &dyn Fn(&Path) -> Result<InterceptorManifest, ManifestErrors>,
    ) -> Result<App, AppErrors> {
        let syntax = |message: String, fix: &str| AppError::Syntax {
            file: path.to_path_buf(),
            message,
            fix: fix.into(),
        };
        let table: toml::Table =
            toml::from_str(text).map_err(|e| syntax(e.message().to_string(), "write valid TOML"))?;
        match table.get("app-version").and_then(toml::Value::as_integer) {
            Some(APP_VERSION) => {}
            Some(other) => {
                return Err(syntax(
                    format!("app-version {other} is not supported by this rill"),
                    &format!("write app-version = {APP_VERSION}"),
                )
                .into());
            }
            None => {
                return Err(syntax("`app-version` is missing".into(), "start the file with app-version = 1").into());
            }
        }
        let raw: RawApp = toml::from_str(text).map_err(|e| {
            syntax(
                e.message().to_string(),
                "use only app-version, [[processors]] (manifest), [[connections]] (from, to, write, repartition) and [[interceptors]] (manifest, processors)",
            )
        })?;
        let invalid = |field: String, problem: String, fix: String| AppError::Invalid {
            file: path.to_path_buf(),
            field,
            problem,
            fix,
        };
        let mut found = Found::default();
        if raw.processors.is_empty() {
            found.0.push(invalid(
                "processors".into(),
                "no processors".into(),
                "add [[processors]] manifest = \"path/to/plugin.toml\"".into(),
            ));
        }
        let base = path.parent().unwrap_or(Path::new("."));
        let mut processors: Vec<Arc<Manifest>> = Vec::new();
        let mut all_loaded = true;
        for (i, p) in raw.processors.iter().enumerate() {
            let Some(manifest) = found.manifest(load(&clean(&base.join(&p.manifest)))) else {
                all_loaded = false;
                continue;
            };
            if processors.iter().any(|m| m.name == manifest.name) {
                found.0.push(invalid(
                    format!("processors[{i}].manifest"),
                    format!("a second processor named \"{}\"", manifest.name),
                    "give each processor's manifest its own name".into(),
                ));
                continue;
            }
            processors.push(Arc::new(manifest));
        }
        let mut connections: Vec<Connection> = Vec::new();
        for (i, c) in raw.connections.iter().enumerate() {
            let field = |key: &str| format!("connections[{i}].{key}");
            let checked = Connecting {
                processors: &processors,
                all_loaded,
                earlier: &connections,
            }
            .check(c, &|key, problem, fix| invalid(field(key), problem, fix));
            match checked {
                Ok(Some(connection)) => connections.push(connection),
                Ok(None) => {}
                Err(error) => found.0.push(error),
            }
        }
        if let Some(cycle) = find_cycle(&connections) {
            found.0.push(invalid(
                "connections".into(),
                format!("the connections form a cycle: {}", cycle.join(" -> ")),
                "remove one connection of the cycle (write that output to its topic instead)".into(),
            ));
        }
        let mut interceptors = Vec::new();
        for (i, declared) in raw.interceptors.iter().enumerate() {
            let covers = match &declared.processors {
                None => processors.iter().map(|m| m.name.clone()).collect(),
                Some(names) => {
                    let mut covers = Vec::new();
                    for (n, name) in names.iter().enumerate() {
                        if processors.iter().any(|m| m.name == *name) {
                            covers.push(name.clone());
                        } else if all_loaded {
                            let known: Vec<&str> = processors.iter().map(|m| m.name.as_str()).collect();
                            found.0.push(invalid(
                                format!("interceptors[{i}].processors[{n}]"),
                                format!("no processor \"{name}\" in this application"),
                                format!("use one of: {}", known.join(", ")),
                            ));
                        }
                    }
                    if names.is_empty() {
                        found.0.push(invalid(
                            format!("interceptors[{i}].processors"),
                            "is empty, so the interceptor would cover nothing".into(),
                            "name the processors it covers, or remove `processors` to cover them all".into(),
                        ));
                    }
                    covers
                }
            };
            if let Some(manifest) = found.interceptor(load_interceptor(&clean(&base.join(&declared.manifest)))) {
                interceptors.push(DeclaredInterceptor {
                    manifest: Arc::new(manifest),
                    processors: covers,
                });
            }
        }
        interceptors.extend(processors_own(&processors, load_interceptor, &mut found));
        found.finish(App {
            path: path.to_path_buf(),
            processors,
            connections,
            interceptors,
        })
    }
}

/// What a connection is checked against: the processors that loaded and
/// the connections already accepted.
struct Connecting<'a> {
    /// The processors whose manifests passed.
    processors: &'a [Arc<Manifest>],
    /// Whether every manifest passed: if not, a name matching no processor
    /// may be one whose manifest was refused, so it is not reported.
    all_loaded: bool,
    /// Connections accepted before this one.
    earlier: &'a [Connection],
}

impl Connecting<'_> {
    fn find(&self, name: &str) -> Option<&Manifest> {
        self.processors.iter().find(|m| m.name == name).map(|m| &**m)
    }

    fn names(&self) -> String {
        self.processors
            .iter()
            .map(|m| m.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// A `from` (`<processor>.<output>`) whose topic processor `to` reads
    /// as a stream, preferring processor `name`'s outputs.
    fn feeding(&self, name: &str, to: &str) -> Option<String> {
        let reads = self.find(to)?;
        let mut upstream: Vec<&Manifest> = self.processors.iter().map(|m| &**m).collect();
        upstream.sort_by_key(|m| m.name != name);
        upstream.into_iter().find_map(|m| {
            m.outputs
                .iter()
                .find(|(_, spec)| reads.stream_topics().any(|t| t == spec.topic))
                .map(|(output, _)| format!("{}.{output}", m.name))
        })
    }

    /// The processor `name`; `Ok(None)` when it may be one whose manifest
    /// was refused.
    fn processor(
        &self,
        name: &str,
        key: &str,
        invalid: &dyn Fn(&str, String, String) -> AppError,
    ) -> Result<Option<&Manifest>, AppError> {
        match self.find(name) {
            Some(manifest) => Ok(Some(manifest)),
            None if !self.all_loaded => Ok(None),
            None => Err(invalid(
                key,
                format!("no processor \"{name}\" in this application"),
                format!("use one of: {}", self.names()),
            )),
        }
    }

    /// Checks connection `c`; `invalid(key, problem, fix)` names its field.
    /// `Ok(None)`: it names a processor whose manifest was refused.
    fn check(
        &self,
        c: &RawConnection,
        invalid: &dyn Fn(&str, String, String) -> AppError,
    ) -> Result<Option<Connection>, AppError> {
        let Some((from, output)) = c.from.split_once('.') else {
            let fix = match self.feeding(&c.from, &c.to) {
                Some(example) => format!("write from = \"<processor>.<output>\", e.g. \"{example}\""),
                None => "write from = \"<processor>.<output>\"".into(),
            };
            return Err(invalid("from", format!("\"{}\" does not name an output", c.from), fix));
        };
        let (Some(upstream), Some(downstream)) = (
            self.processor(from, "from", invalid)?,
            self.processor(&c.to, "to", invalid)?,
        ) else {
            return Ok(None);
        };
        if upstream.routed.contains_key(output) {
            return Err(invalid(
                "from",
                format!(
                    "{from}'s output \"{output}\" chooses its topic per record (topic-pattern), so no one topic stands for it in memory"
                ),
                format!(
                    "connect an output with a fixed topic, or leave {from}.{output} unconnected and run {} as its own application reading the chosen topics",
                    c.to
                ),
            ));
        }
        let topic = upstream.output_topic(output).ok_or_else(|| {
            let declared: Vec<&str> = upstream.output_names().map(String::as_str).collect();
            invalid(
                "from",
                format!("{from} declares no output \"{output}\""),
                format!("use one of its outputs: {}", declared.join(", ")),
            )
        })?;
        if !downstream.stream_topics().any(|t| t == topic) {
            return Err(invalid(
                "to",
                format!(
                    "{} has no stream input \"{topic}\" for {from}'s output \"{output}\" to feed",
                    c.to
                ),
                format!("add [[inputs]] topic = \"{topic}\" to {}", downstream.path.display()),
            ));
        }
        if self.earlier.iter().any(|o| o.to == c.to && o.topic == topic) {
            return Err(invalid(
                "to",
                format!("{}'s input \"{topic}\" is already fed by another connection", c.to),
                "connect each input once".into(),
            ));
        }
        let stateful = downstream.all_stores().next().is_some() || downstream.table_topics().next().is_some();
        if stateful && !c.repartition {
            return Err(invalid(
                "repartition",
                format!(
                    "{} keeps state per key, but {from} may change keys, so its records may not be on the partition that holds their state",
                    c.to
                ),
                "add repartition = true to re-key them through a repartition topic first".into(),
            ));
        }
        Ok(Some(Connection {
            from: from.to_string(),
            output: output.to_string(),
            topic: topic.to_string(),
            to: c.to.clone(),
            write: c.write,
            repartition: c.repartition,
        }))
    }
}

/// A processor path that returns to where it started, if any.
fn find_cycle(connections: &[Connection]) -> Option<Vec<String>> {
    fn visit(node: &str, connections: &[Connection], path: &mut Vec<String>) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        path.push(node.to_string());
        for c in connections.iter().filter(|c| c.from == node) {
            if let Some(cycle) = visit(&c.to, connections, path) {
                return Some(cycle);
            }
        }
        path.pop();
        None
    }
    connections
        .iter()
        .find_map(|c| visit(&c.from, connections, &mut Vec::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Golden tests: each `host/tests/app-ui/invalid/NAME.toml` must be
    /// refused with exactly `NAME.err` (`RILL_BLESS=1` rewrites them).
    /// Manifests are the samples under `plugins/`.
    #[test]
    fn manifest_paths_are_cleaned_lexically() {
        assert_eq!(
            clean(Path::new("apps/../plugins/x/plugin.toml")),
            Path::new("plugins/x/plugin.toml")
        );
        assert_eq!(clean(Path::new("./a/./b.toml")), Path::new("a/b.toml"));
        assert_eq!(
            clean(Path::new("../up/b.toml")),
            Path::new("../up/b.toml"),
            "nothing to pop stays"
        );
        assert_eq!(clean(Path::new("/x/../y")), Path::new("/y"));
    }

    #[test]
    fn invalid_apps_are_refused_with_their_golden_message() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/app-ui/invalid");
        let plugins = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins");
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/app-ui");
        // `manifests/...` are fixtures beside the goldens, the rest samples.
        let file = |p: &Path| {
            let relative = p.strip_prefix("invalid").unwrap_or(p).to_path_buf();
            let file = if relative.starts_with("manifests") {
                fixtures.join(&relative)
            } else {
                plugins.join(&relative)
            };
            (std::fs::read_to_string(&file).unwrap(), relative)
        };
        let load = |p: &Path| {
            let (text, relative) = file(p);
            Manifest::parse(&relative, &text)
        };
        let load_interceptor = |p: &Path| {
            let (text, relative) = file(p);
            InterceptorManifest::parse(&relative, &text)
        };
        crate::golden::check_refusals(&dir, 8, |shown, text| {
            App::parse(shown, text, &load, &load_interceptor)
                .expect_err(&format!("{} must be refused", shown.display()))
                .to_string()
        });
    }

    #[test]
    fn plain_manifests_report_every_problem_of_every_file() {
        // `rill validate a.toml b.toml` and `rill run a.toml b.toml`.
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/app-ui/manifests");
        let paths = ["broken-a.toml", "relay-a.toml", "broken-b.toml"].map(|f| fixtures.join(f));
        let errors = App::load_args(&paths).expect_err("two manifests are broken");
        let files: Vec<&Path> = errors
            .errors()
            .iter()
            .map(|error| match error {
                AppError::Manifest(ManifestError::Invalid { file, .. }) => file.as_path(),
                other => panic!("not a manifest's value refusal: {other}"),
            })
            .collect();
        assert_eq!(files, [&paths[0], &paths[0], &paths[2], &paths[2]]);
    }

    #[test]
    fn a_repartition_connection_splits_the_topology_at_its_topic() {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/app-ui");
        let plugins = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins");
        let load = |p: &Path| {
            if p.starts_with("manifests") {
                Manifest::load(&fixtures.join(p))
            } else {
                Manifest::load(&plugins.join(p))
            }
        };
        let text = "app-version = 1\n[[processors]]\nmanifest = \"manifests/orders-source.toml\"\n\
                    [[processors]]\nmanifest = \"order-count/plugin.toml\"\n\
                    [[connections]]\nfrom = \"orders-source.out\"\nto = \"order-count\"\nrepartition = true\nwrite = false\n";
        let app = App::parse(Path::new("app.toml"), text, &load, &|p| InterceptorManifest::load(p)).unwrap();
        let plan = crate::topology::Topology::plan_app("shop", &app);
        let repartition = "shop-orders-source-out-repartition";
        assert_eq!(plan.subtopologies.len(), 2, "{plan:#?}");
        let (first, second) = (&plan.subtopologies[0], &plan.subtopologies[1]);
        assert!(
            first
                .sinks
                .iter()
                .any(|s| s.topic == repartition && s.kind == "repartition")
        );
        assert!(
            !first.sinks.iter().any(|s| s.topic == "order"),
            "write = false keeps the output internal"
        );
        assert_eq!(second.sources[0].topic, repartition);
        assert_eq!(second.processors[0].name, "order-count");
    }

    #[test]
    fn the_metrics_app_connects_branch_to_alert_in_memory() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../apps/metrics.toml");
        let app = App::load(&path).unwrap();
        assert_eq!(app.processors.len(), 2);
        assert_eq!(
            app.connections,
            [Connection {
                from: "metric-branch".into(),
                output: "cpu".into(),
                topic: "metric.cpu".into(),
                to: "cpu-alert".into(),
                write: true,
                repartition: false,
            }]
        );
        assert!(is_app(&std::fs::read_to_string(&path).unwrap()));
        assert!(!is_app("manifest-version = 1"));
    }
}
