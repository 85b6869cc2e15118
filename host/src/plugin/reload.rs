//! Hot swap: watch each manifest and the component it names; on a change,
//! load the new build off the processing path (parse, compatibility check,
//! compile through the cache, world check, trial `init`) and only if all of
//! that succeeds hand it to the processor, whose tasks switch at their next
//! batch boundary. Anything that fails leaves the running build alone and
//! says why in the log, naming the file; a later good file is picked up.
//!
//! Deploy by writing a temporary file in the same directory and renaming it
//! over the old one: the rename is atomic, so rill sees one complete file.
//! A file written in place may be seen half-written; that load fails (and is
//! logged) and the write's last change triggers another, successful one.

use super::Plugin;
use super::cache::CompileCache;
use crate::manifest::Manifest;
use notify_debouncer_mini::notify::RecursiveMode;
use notify_debouncer_mini::{DebounceEventResult, Debouncer, new_debouncer};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wasmtime::Engine;

/// What a swap replaces: a processor's (or an interceptor's) current
/// manifest and build.
pub trait SwapTarget: Send + Sync {
    /// Its name, for logs and `rill_hot_swaps_total`.
    fn name(&self) -> String;
    /// The files whose change reloads it: its manifest and component.
    fn files(&self) -> Vec<PathBuf>;
    /// The running build's version (manifest version + content hash).
    fn version(&self) -> String;
    /// Loads the changed build off the processing path and installs it:
    /// `Ok(None)` when nothing changed, `Ok(message)` when swapped (tasks
    /// switch at their next batch), `Err(why)` when refused.
    fn reload(&self, engine: &Engine, cache: Option<&CompileCache>) -> Result<Option<String>, String>;
}

/// Keeps the watches alive; dropping it stops hot swapping.
pub struct Reloader {
    _debouncer: Debouncer<notify_debouncer_mini::notify::RecommendedWatcher>,
}

/// How long file events must settle before a reload.
const DEBOUNCE: Duration = Duration::from_millis(200);

impl Reloader {
    /// Watches the manifests and components of `targets`.
    pub fn start(
        engine: Engine,
        cache: Option<CompileCache>,
        targets: Vec<Arc<dyn SwapTarget>>,
    ) -> notify_debouncer_mini::notify::Result<Self> {
        let watched: Vec<(Vec<PathBuf>, Arc<dyn SwapTarget>)> = targets
            .iter()
            .map(|t| (t.files().iter().map(|f| absolute(f)).collect(), t.clone()))
            .collect();
        for target in &targets {
            for result in ["swapped", "refused"] {
                metrics::counter!(crate::observe::metrics::HOT_SWAPS, "processor" => target.name(), "result" => result)
                    .increment(0);
            }
        }
        let dirs: Vec<PathBuf> = {
            let mut dirs: Vec<PathBuf> = watched
                .iter()
                .flat_map(|(files, _)| files.iter().filter_map(|f| f.parent().map(Path::to_path_buf)))
                .collect();
            dirs.sort();
            dirs.dedup();
            dirs
        };
        let mut debouncer = new_debouncer(DEBOUNCE, move |events: DebounceEventResult| {
            let Ok(events) = events else { return };
            for (files, target) in &watched {
                if events.iter().any(|e| files.iter().any(|f| same_file(&e.path, f))) {
                    reload(&engine, cache.as_ref(), target.as_ref());
                }
            }
        })?;
        for dir in &dirs {
            debouncer.watcher().watch(dir, RecursiveMode::NonRecursive)?;
            tracing::info!("watching {} for plugin changes", dir.display());
        }
        Ok(Reloader { _debouncer: debouncer })
    }
}

fn absolute(path: &Path) -> PathBuf {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    path.file_name().map_or(dir.clone(), |name| dir.join(name))
}

fn same_file(event: &Path, watched: &Path) -> bool {
    absolute(event) == watched
}

/// One reload attempt; every outcome is logged, counted
/// (`rill_hot_swaps_total{result}`) and shown on the status page.
fn reload(engine: &Engine, cache: Option<&CompileCache>, target: &dyn SwapTarget) {
    let name = target.name();
    let telemetry = crate::observe::telemetry();
    let result = match target.reload(engine, cache) {
        Ok(None) => return,
        Ok(Some(done)) => {
            tracing::info!("{done}");
            telemetry.event("swap", &name, done);
            "swapped"
        }
        Err(refused) => {
            tracing::error!("{refused}");
            telemetry.event("swap-refused", &name, refused);
            "refused"
        }
    };
    metrics::counter!(crate::observe::metrics::HOT_SWAPS, "processor" => name, "result" => result).increment(1);
}

/// A processor's [`SwapTarget::reload`]: loads the changed build of `old`
/// (running as `version`) and hands it to `install`. A manifest change a
/// swap cannot make is refused with `explain`'s account of what a restart
/// with it would do to state (the caller's: `rill upgrade-check`'s words).
pub fn reload_processor(
    engine: &Engine,
    cache: Option<&CompileCache>,
    old: &Manifest,
    version: &str,
    explain: &dyn Fn(&Manifest, &Manifest) -> String,
    install: impl FnOnce(Arc<Manifest>, Arc<Plugin>),
) -> Result<Option<String>, String> {
    let refused = |why: String| format!("hot swap refused, keeping {} {version}: {why}", old.name);
    let new = Manifest::load(&old.path).map_err(|error| refused(error.to_string()))?;
    if let Err(field) = compatible(old, &new) {
        let state = explain(old, &new);
        return Err(refused(format!(
            "{}: `{field}` changed; a swap keeps the topology (topics, stores) and the grants, so restart rill to change it{}",
            new.path.display(),
            if state.is_empty() {
                String::new()
            } else {
                format!(" (and check it first with `rill upgrade-check`:{state})")
            }
        )));
    }
    let started = Instant::now();
    let plugin = Plugin::load(engine, Arc::new(new.clone()), cache).map_err(|error| refused(error.to_string()))?;
    if plugin.version.to_string() == version && new == *old {
        return Ok(None);
    }
    let new_version = plugin.version.to_string();
    install(Arc::new(new), Arc::new(plugin));
    Ok(Some(swapped(&old.name, version, &new_version, started)))
}

/// The log line of a swap of `name` from `old` to `new` that started
/// loading at `started`.
pub fn swapped(name: &str, old: &str, new: &str, started: Instant) -> String {
    format!(
        "hot swap of {name}: {old} -> {new} (loaded in {:.1} ms); tasks switch at their next batch",
        started.elapsed().as_secs_f64() * 1e3
    )
}

/// The first field a swap may not change, if any.
fn compatible(old: &Manifest, new: &Manifest) -> Result<(), &'static str> {
    if old.name != new.name {
        return Err("name");
    }
    if old.inputs != new.inputs {
        return Err("inputs");
    }
    if old.outputs != new.outputs || old.routed != new.routed {
        return Err("outputs");
    }
    if old.dead_letter != new.dead_letter {
        return Err("dead-letter");
    }
    if old.stores != new.stores {
        return Err("stores");
    }
    if old.windows != new.windows {
        return Err("windows");
    }
    if old.joins != new.joins || old.fk_joins != new.fk_joins {
        return Err("joins");
    }
    if old.timers != new.timers {
        return Err("timers");
    }
    if old.idle_advance != new.idle_advance {
        return Err("idle-advance");
    }
    // What a running plugin may touch on the machine is decided once, at
    // start, where an operator sees it: a swap cannot widen it.
    if old.grants != new.grants {
        return Err("grants");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(grants: &str) -> Manifest {
        let text = format!(
            "manifest-version = 1\nname = \"s\"\nversion = \"1.0.0\"\ncomponent = \"s.wasm\"\ndead-letter = \"s.dlq\"\n[[inputs]]\ntopic = \"in\"\n{grants}"
        );
        Manifest::parse(Path::new("s/plugin.toml"), &text).unwrap()
    }

    /// A swap may not change what the plugin reaches on the machine.
    #[test]
    fn a_swap_that_changes_the_grants_is_refused() {
        let logs = "[[grants]]\ndir = \"logs\"\naccess = \"append\"\nmax-size = \"1MiB\"\n";
        let wider = "[[grants]]\ndir = \"logs\"\naccess = \"read-write\"\nmax-size = \"1MiB\"\n";
        assert_eq!(compatible(&manifest(logs), &manifest(logs)), Ok(()));
        assert_eq!(compatible(&manifest(logs), &manifest(wider)), Err("grants"));
        assert_eq!(compatible(&manifest(""), &manifest(logs)), Err("grants"));
    }
}
