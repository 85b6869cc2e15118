//! Interceptors under `rill test` (docs/testing.md, "Interceptors"). The
//! tasks call them through the host's own chain (`crate::intercept`), as
//! `rill run` does; what this file adds is what a spec run needs around
//! them:
//!
//! - each case loads the application's interceptors afresh
//!   ([`crate::intercept::load_for_app`]) with every directory they may
//!   write (`append` and `read-write` grants) moved into a temporary
//!   directory of the case, so a spec run starts from empty logs and never
//!   writes the user's real ones (`read` grants stay where they are: the
//!   host refuses every write there anyway);
//! - a case's `files` (lines of files written there) and `interceptors`
//!   (calls and failures, from [`crate::intercept::Tally`]) are checked
//!   against the application before anything runs, and compared after.

use super::SpecError;
use super::spec::{Case, ExpectedLine, Spec, to_json};
use crate::app::App;
use crate::intercept::{InterceptorSpec, Tally};
use crate::manifest::{GrantAccess, InterceptEvent, lexical};
use crate::plugin::cache::CompileCache;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The application's interceptors as declared, ready to be loaded for
/// each case.
pub struct Interceptors {
    app: App,
    /// Every directory an interceptor may write, as its manifest writes it
    /// (`.` and `..` applied), with the interceptors granted it.
    writable: BTreeMap<PathBuf, Vec<String>>,
}

/// One case's interceptors: loaded with their writing grants moved into
/// `dir`, which lives (and its files with it) as long as this does.
pub struct CaseInterceptors {
    /// Removed (with every file the case wrote) when the case is done.
    _dir: tempfile::TempDir,
    /// Per processor of the application, in its order: the interceptors
    /// covering it, in call order (what the tasks run).
    pub per_processor: Vec<Vec<Arc<InterceptorSpec>>>,
    /// Each granted directory as written, and where it is for this case.
    moved: BTreeMap<PathBuf, PathBuf>,
}

impl Interceptors {
    /// The interceptors `app` declares (none is fine: every case then runs
    /// without any, and `files` and `interceptors` are refused).
    pub fn new(app: &App) -> Interceptors {
        let mut writable: BTreeMap<PathBuf, Vec<String>> = BTreeMap::new();
        for declared in &app.interceptors {
            for grant in declared
                .manifest
                .grants
                .iter()
                .filter(|g| g.access != GrantAccess::Read)
            {
                let names = writable.entry(lexical(&grant.dir)).or_default();
                if !names.contains(&declared.manifest.name) {
                    names.push(declared.manifest.name.clone());
                }
            }
        }
        Interceptors {
            app: app.clone(),
            writable,
        }
    }

    /// Loads every interceptor for one case, as `rill run` loads them (a
    /// trial `init` each), with each writing grant's directory made anew
    /// in a temporary directory. Two grants of one directory share it
    /// there, and one inside another stays inside it.
    pub fn load(&self, engine: &wasmtime::Engine, cache: &CompileCache) -> Result<CaseInterceptors, String> {
        let dir = tempfile::Builder::new()
            .prefix("rill-test-grants-")
            .tempdir()
            .map_err(|e| format!("creating a directory for the interceptors' grants: {e}"))?;
        // Shortest first, so a directory inside another is placed in it.
        let mut written: Vec<&PathBuf> = self.writable.keys().collect();
        written.sort_by_key(|p| p.components().count());
        let mut moved: BTreeMap<PathBuf, PathBuf> = BTreeMap::new();
        for (n, key) in written.into_iter().enumerate() {
            let host = match moved.iter().find(|(outer, _)| key.starts_with(outer)) {
                Some((outer, host)) => host.join(key.strip_prefix(outer).expect("checked by starts_with")),
                None => dir.path().join(format!("grant-{n}")),
            };
            std::fs::create_dir_all(&host).map_err(|e| format!("creating {}: {e}", host.display()))?;
            moved.insert(key.clone(), host);
        }
        let mut app = self.app.clone();
        for declared in &mut app.interceptors {
            let mut manifest = (*declared.manifest).clone();
            for grant in manifest.grants.iter_mut().filter(|g| g.access != GrantAccess::Read) {
                grant.dir = moved[&lexical(&grant.dir)].clone();
            }
            declared.manifest = Arc::new(manifest);
        }
        let per_processor = crate::intercept::load_for_app(engine, Some(cache), &app).map_err(|e| e.to_string())?;
        Ok(CaseInterceptors {
            _dir: dir,
            per_processor,
            moved,
        })
    }

    /// Checks a case's `files` and `interceptors` against the application:
    /// each file inside a directory an interceptor may write, each name a
    /// declared interceptor, each count a number per event it handles.
    pub fn check(&self, spec: &Spec, case: &Case) -> Result<(), SpecError> {
        for (key, lines) in &case.files {
            let at = key.span().start;
            self.granted(key.get_ref()).map_err(|m| spec.error(at, m))?;
            for line in lines {
                check_line(line.get_ref()).map_err(|m| spec.error(line.span().start, m))?;
            }
        }
        for (name, counts) in &case.interceptors {
            let at = name.span().start;
            let declared = self
                .app
                .interceptors
                .iter()
                .find(|d| d.manifest.name == *name.get_ref())
                .ok_or_else(|| {
                    let known: Vec<&str> = self.app.interceptors.iter().map(|d| d.manifest.name.as_str()).collect();
                    spec.error(
                        at,
                        match known.as_slice() {
                            [] => format!(
                                "unknown interceptor \"{}\" in interceptors: the application declares none",
                                name.get_ref()
                            ),
                            _ => format!(
                                "unknown interceptor \"{}\" in interceptors; declared: {}",
                                name.get_ref(),
                                known.join(", ")
                            ),
                        },
                    )
                })?;
            let counts = counts.get_ref();
            if counts.calls.is_none() && counts.errors.is_none() {
                return Err(spec.error(
                    at,
                    format!("interceptors.{}: give `calls`, `errors` or both", name.get_ref()),
                ));
            }
            for (field, value) in [("calls", &counts.calls), ("errors", &counts.errors)] {
                if let Some(value) = value {
                    expected_counts(value, &declared.manifest.events)
                        .map_err(|m| spec.error(at, format!("interceptors.{}.{field}: {m}", name.get_ref())))?;
                }
            }
        }
        Ok(())
    }

    /// The granted directory (as written) that file `key` of `files` is
    /// in, or why it names no file an interceptor may write.
    fn granted(&self, key: &str) -> Result<&PathBuf, String> {
        let path = lexical(Path::new(key));
        let inside = self
            .writable
            .keys()
            .filter(|dir| path.starts_with(dir) && path != **dir)
            .max_by_key(|dir| dir.components().count());
        if let Some(dir) = inside {
            return Ok(dir);
        }
        if self.app.interceptors.is_empty() {
            return Err(format!(
                "files.\"{key}\": `files` checks what interceptors wrote, and the application declares none"
            ));
        }
        if self.writable.is_empty() {
            return Err(format!(
                "files.\"{key}\": no interceptor of the application may write a file; grant one a directory ([[grants]] with access = \"append\" or \"read-write\", docs/manifest.md)"
            ));
        }
        let known: Vec<String> = self
            .writable
            .iter()
            .map(|(dir, names)| format!("{}/ ({})", dir.display(), names.join(", ")))
            .collect();
        Err(format!(
            "files.\"{key}\" is not a file inside a directory an interceptor may write; write the grant's `dir` as its manifest does, then the file, e.g. \"{}/NAME.log\"; writable: {}",
            self.writable.keys().next().expect("not empty").display(),
            known.join(", ")
        ))
    }

    /// How a case's `files` and `interceptors` differ from what `loaded`
    /// saw: one diff line per difference.
    pub fn compare(&self, case: &Case, loaded: &CaseInterceptors) -> Vec<String> {
        let mut diff = Vec::new();
        for (key, want) in &case.files {
            let Ok(dir) = self.granted(key.get_ref()) else { continue };
            let inside = lexical(Path::new(key.get_ref()));
            let host = loaded.moved[dir].join(inside.strip_prefix(dir).expect("checked by granted"));
            let got = match std::fs::read(&host) {
                Ok(bytes) => String::from_utf8_lossy(&bytes).lines().map(str::to_string).collect(),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
                Err(e) => {
                    diff.push(format!("file {}: cannot read it: {e}", key.get_ref()));
                    continue;
                }
            };
            let want: Vec<&ExpectedLine> = want.iter().map(|l| l.get_ref()).collect();
            diff.extend(compare_lines(key.get_ref(), &want, &got, case.any_order));
        }
        let tallies = loaded.tallies();
        for (name, counts) in &case.interceptors {
            let tally = tallies.get(name.get_ref()).copied().unwrap_or_default();
            let counts = counts.get_ref();
            for (field, value, got) in [
                ("calls", &counts.calls, tally.calls),
                ("errors", &counts.errors, tally.errors),
            ] {
                let Some(Ok(want)) = value.as_ref().map(|v| expected_counts(v, &InterceptEvent::ALL)) else {
                    continue;
                };
                diff.extend(compare_counts(name.get_ref(), field, &want, &got));
            }
        }
        diff
    }
}

impl CaseInterceptors {
    /// Each interceptor's calls and failures over the case, by name (two
    /// declarations of one name add up).
    fn tallies(&self) -> BTreeMap<String, Tally> {
        let mut seen: Vec<&Arc<InterceptorSpec>> = Vec::new();
        for spec in self.per_processor.iter().flatten() {
            if !seen.iter().any(|s| Arc::ptr_eq(s, spec)) {
                seen.push(spec);
            }
        }
        let mut tallies: BTreeMap<String, Tally> = BTreeMap::new();
        for spec in seen {
            let tally = spec.tally();
            let sum = tallies.entry(spec.name.to_string()).or_default();
            for i in 0..InterceptEvent::ALL.len() {
                sum.calls[i] += tally.calls[i];
                sum.errors[i] += tally.errors[i];
            }
            sum.start_errors += tally.start_errors;
        }
        tallies
    }
}

/// An expected line gives exactly one of `line`, `json` and `contains`.
fn check_line(line: &ExpectedLine) -> Result<(), String> {
    match [line.line.is_some(), line.json.is_some(), line.contains.is_some()]
        .iter()
        .filter(|&&b| b)
        .count()
    {
        1 => Ok(()),
        _ => Err("an expected line gives exactly one of `line` (the whole line), `json` (compared as JSON) and `contains` (text in it)".into()),
    }
}

/// What a `calls` or `errors` value expects: `None` a total, else per
/// event; events outside `handled` (what the interceptor's manifest lists)
/// are refused, since the host never calls them.
fn expected_counts(value: &toml::Value, handled: &[InterceptEvent]) -> Result<Counts, String> {
    let count = |v: &toml::Value| match v {
        toml::Value::Integer(n) if *n >= 0 => Ok(*n as u64),
        other => Err(format!("expected a count (0 or more), got {other}")),
    };
    match value {
        toml::Value::Table(table) => {
            let mut per_event = Vec::new();
            for (name, n) in table {
                let Some(event) = InterceptEvent::ALL.iter().find(|e| e.name() == name) else {
                    return Err(format!(
                        "unknown event \"{name}\"; the events are consume, commit, send and acknowledgement"
                    ));
                };
                if !handled.contains(event) {
                    let listed: Vec<String> = handled.iter().map(|e| format!("\"{}\"", e.name())).collect();
                    return Err(format!(
                        "the host never calls it for \"{name}\": its manifest lists events = [{}]; drop \"{name}\" here or add it to `events`",
                        listed.join(", ")
                    ));
                }
                per_event.push((*event, count(n)?));
            }
            Ok(Counts::PerEvent(per_event))
        }
        other => count(other).map(Counts::Total),
    }
}

/// Expected calls or failures of one interceptor.
enum Counts {
    /// Over every event.
    Total(u64),
    /// For these events only.
    PerEvent(Vec<(InterceptEvent, u64)>),
}

/// Diff lines for `field` (`calls` or `errors`) of interceptor `name`.
fn compare_counts(name: &str, field: &str, want: &Counts, got: &[u64; 4]) -> Vec<String> {
    match want {
        Counts::Total(n) => {
            let total: u64 = got.iter().sum();
            (total != *n)
                .then(|| {
                    format!(
                        "interceptor {name}, {field}: expected {n}, got {total} ({})",
                        per_event(got)
                    )
                })
                .into_iter()
                .collect()
        }
        Counts::PerEvent(events) => events
            .iter()
            .filter(|(event, n)| got[*event as usize] != *n)
            .map(|(event, n)| {
                format!(
                    "interceptor {name}, {field} of {}: expected {n}, got {}",
                    event.name(),
                    got[*event as usize]
                )
            })
            .collect(),
    }
}

/// `consume 2, send 1`: the events with a count.
fn per_event(counts: &[u64; 4]) -> String {
    let shown: Vec<String> = InterceptEvent::ALL
        .iter()
        .filter(|e| counts[**e as usize] > 0)
        .map(|e| format!("{} {}", e.name(), counts[*e as usize]))
        .collect();
    if shown.is_empty() {
        "none".into()
    } else {
        shown.join(", ")
    }
}

/// Whether `got` is the line `want` describes; `None` when it is, else
/// the field and both values.
fn line_differs(want: &ExpectedLine, got: &str) -> Option<(&'static str, String, String)> {
    if let Some(json) = &want.json {
        let want = to_json(json);
        return match serde_json::from_str::<serde_json::Value>(got) {
            Ok(value) if value == want => None,
            Ok(value) => Some(("json", want.to_string(), value.to_string())),
            Err(_) => Some(("json", want.to_string(), format!("{got:?} (not JSON)"))),
        };
    }
    if let Some(text) = &want.contains {
        return (!got.contains(text.as_str()))
            .then(|| ("contains", format!("containing {text:?}"), format!("{got:?}")));
    }
    let text = want.line.as_deref().unwrap_or_default();
    (got != text).then(|| ("line", format!("{text:?}"), format!("{got:?}")))
}

/// How an expected line reads in a diff.
fn describe(want: &ExpectedLine) -> String {
    match (&want.line, &want.json, &want.contains) {
        (_, Some(json), _) => to_json(json).to_string(),
        (_, _, Some(text)) => format!("a line containing {text:?}"),
        (Some(line), _, _) => format!("{line:?}"),
        _ => String::new(),
    }
}

/// Diff lines of file `file`: in order, or (`any_order`) each expected
/// line matched with one line written, whichever it is.
fn compare_lines(file: &str, want: &[&ExpectedLine], got: &[String], any_order: bool) -> Vec<String> {
    let mut diff = Vec::new();
    if any_order {
        let mut used = vec![false; got.len()];
        for (i, want) in want.iter().enumerate() {
            match (0..got.len()).find(|&j| !used[j] && line_differs(want, &got[j]).is_none()) {
                Some(j) => used[j] = true,
                None => diff.push(format!(
                    "file {file}, line {}: expected but not written: {}",
                    i + 1,
                    describe(want)
                )),
            }
        }
        for (j, line) in got.iter().enumerate().filter(|(j, _)| !used[*j]) {
            diff.push(format!("file {file}, line {}: unexpected: {line:?}", j + 1));
        }
        return diff;
    }
    for i in 0..want.len().max(got.len()) {
        match (want.get(i), got.get(i)) {
            (Some(want), Some(got)) => {
                if let Some((field, want, got)) = line_differs(want, got) {
                    diff.push(format!(
                        "file {file}, line {} ({field}): expected {want}, got {got}",
                        i + 1
                    ));
                }
            }
            (Some(want), None) => diff.push(format!(
                "file {file}, line {}: expected but not written: {}",
                i + 1,
                describe(want)
            )),
            (None, Some(got)) => diff.push(format!("file {file}, line {}: unexpected: {got:?}", i + 1)),
            (None, None) => unreachable!("i is below the longer length"),
        }
    }
    diff
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::DeclaredInterceptor;
    use crate::manifest::InterceptorManifest;

    /// An application of no processor with the repository's
    /// `plugins/<name>/plugin.toml` interceptors.
    fn app(interceptors: &[&str]) -> App {
        let plugins = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins");
        App {
            path: PathBuf::from("app.toml"),
            processors: Vec::new(),
            connections: Vec::new(),
            interceptors: interceptors
                .iter()
                .map(|name| DeclaredInterceptor {
                    manifest: Arc::new(InterceptorManifest::load(&plugins.join(name).join("plugin.toml")).unwrap()),
                    processors: Vec::new(),
                })
                .collect(),
        }
    }

    /// Refusals of `files` and `interceptors` fields: every
    /// `host/tests/spec-ui/NAME.toml` is refused with exactly `NAME.err`
    /// (`RILL_BLESS=1` rewrites them).
    #[test]
    fn bad_files_and_interceptors_fields_name_file_line_and_fix() {
        let interceptors = Interceptors::new(&app(&["consumer-interceptor", "fixture-bad-interceptor"]));
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/spec-ui");
        crate::golden::check_refusals(&dir, 13, |shown, text| {
            let spec = match Spec::parse(shown, text.to_string()) {
                Ok(spec) => spec,
                Err(error) => return error.to_string(),
            };
            match spec
                .file
                .cases
                .iter()
                .try_for_each(|case| interceptors.check(&spec, case))
            {
                Ok(()) => "accepted".to_string(),
                Err(error) => error.to_string(),
            }
        });
    }

    #[test]
    fn files_and_interceptors_are_refused_when_the_application_has_none() {
        let none = Interceptors::new(&app(&[]));
        let spec = Spec::parse(
            Path::new("t.toml"),
            "manifest = \"a.toml\"\n[[case]]\nname = \"x\"\nfiles.\"logs/a.log\" = []\n".into(),
        )
        .unwrap();
        let error = none.check(&spec, &spec.file.cases[0]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "t.toml:4: files.\"logs/a.log\": `files` checks what interceptors wrote, and the application declares none"
        );
        let unwritable = Interceptors::new(&app(&["fixture-bad-interceptor"]));
        let error = unwritable.check(&spec, &spec.file.cases[0]).unwrap_err();
        assert!(
            error
                .message
                .contains("no interceptor of the application may write a file"),
            "{error}"
        );
    }

    #[test]
    fn a_json_spec_names_the_json_line_of_each_file_and_interceptor() {
        let interceptors = Interceptors::new(&app(&["consumer-interceptor"]));
        let spec = Spec::parse_json(
            Path::new("t.json"),
            r#"{
  "manifest": "app.toml",
  "case": [{
    "name": "x",
    "files": {
      "logs/consumer_interceptor.log": [{"contains": "commit"}],
      "elsewhere/a.log": []
    },
    "interceptors": {"consumer-interceptor": {"calls": {"consume": 1}}}
  }]
}"#,
        )
        .unwrap();
        let case = &spec.file.cases[0];
        assert_eq!(case.interceptors.len(), 1);
        let error = interceptors.check(&spec, case).unwrap_err();
        assert_eq!(error.line, Some(7), "{error}");
        assert!(error.message.starts_with("files.\"elsewhere/a.log\" is not a file inside"), "{error}");
    }

    #[test]
    fn a_case_gets_its_own_directory_for_each_written_grant() {
        let interceptors = Interceptors::new(&app(&["consumer-interceptor", "producer-interceptor"]));
        assert_eq!(interceptors.writable.len(), 1, "both grant \"logs\": one directory");
        assert_eq!(
            interceptors.writable[Path::new("logs")],
            vec!["consumer-interceptor".to_string(), "producer-interceptor".to_string()]
        );
        assert_eq!(
            interceptors.granted("./logs/x/../consumer_interceptor.log").unwrap(),
            Path::new("logs")
        );
    }

    fn line(text: &str) -> ExpectedLine {
        ExpectedLine {
            line: Some(text.into()),
            ..ExpectedLine::default()
        }
    }

    #[test]
    fn lines_compare_in_order_or_as_a_multiset() {
        let json = ExpectedLine {
            json: Some(toml::from_str::<toml::Table>("a = 1").unwrap().into()),
            ..ExpectedLine::default()
        };
        let (a, b) = (line("a"), line("b"));
        let got = vec![r#"{"a": 1}"#.to_string(), "b".to_string()];
        assert!(compare_lines("f", &[&json, &b], &got, false).is_empty());
        let diff = compare_lines("f", &[&b, &json], &got, false);
        assert_eq!(diff.len(), 2, "{diff:?}");
        assert!(
            diff[0].starts_with("file f, line 1 (line): expected \"b\", got "),
            "{diff:?}"
        );
        assert!(compare_lines("f", &[&b, &json], &got, true).is_empty());
        let diff = compare_lines("f", &[&a], &got, false);
        assert_eq!(
            diff,
            vec![
                "file f, line 1 (line): expected \"a\", got \"{\\\"a\\\": 1}\"".to_string(),
                "file f, line 2: unexpected: \"b\"".to_string(),
            ]
        );
        let diff = compare_lines("f", &[&json, &b, &a], &got, false);
        assert_eq!(
            diff,
            vec!["file f, line 3: expected but not written: \"a\"".to_string()]
        );
    }

    #[test]
    fn counts_are_totals_or_per_event_and_only_for_handled_events() {
        let handled = [InterceptEvent::Consume, InterceptEvent::Commit];
        let per: toml::Value = toml::from_str::<toml::Table>("consume = 2").unwrap().into();
        let want = expected_counts(&per, &handled).unwrap();
        assert!(compare_counts("i", "calls", &want, &[2, 5, 0, 0]).is_empty());
        assert_eq!(
            compare_counts("i", "calls", &want, &[1, 0, 0, 0]),
            vec!["interceptor i, calls of consume: expected 2, got 1".to_string()]
        );
        let total = expected_counts(&toml::Value::Integer(3), &handled).unwrap();
        assert_eq!(
            compare_counts("i", "errors", &total, &[1, 1, 0, 0]),
            vec!["interceptor i, errors: expected 3, got 2 (consume 1, commit 1)".to_string()]
        );
        let send: toml::Value = toml::from_str::<toml::Table>("send = 1").unwrap().into();
        let error = expected_counts(&send, &handled).err().unwrap();
        assert!(error.contains("events = [\"consume\", \"commit\"]"), "{error}");
        assert!(expected_counts(&toml::Value::Integer(-1), &handled).is_err());
    }
}
