//! The version of an application last started from this state directory:
//! `<state-dir>/<application-id>/deployed.json`, each processor manifest's
//! path and text and the application's connections. `rill run` compares
//! the version it is about to start with it (`topology::upgrade`) and
//! refuses one that breaks state. Kept beside the state it protects: an
//! instance starting from an empty state directory has nothing to compare
//! with (its state comes from the changelogs, under the new version's
//! names).

use crate::app::{App, Connection};
use crate::manifest::Manifest;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The file under the application's state directory.
pub const FILE: &str = "deployed.json";

/// A started version, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deployed {
    /// Each processor manifest: its path when started, and its text.
    pub manifests: Vec<(PathBuf, String)>,
    /// Connections: from, output, topic, to, write, repartition.
    pub connections: Vec<(String, String, String, String, bool, bool)>,
}

impl Deployed {
    /// The version made of `manifests` (their files read now) and
    /// `connections`.
    pub fn of(manifests: &[Arc<Manifest>], connections: &[Connection]) -> std::io::Result<Deployed> {
        Ok(Deployed {
            manifests: manifests
                .iter()
                .map(|m| Ok((m.path.clone(), std::fs::read_to_string(&m.path)?)))
                .collect::<std::io::Result<_>>()?,
            connections: connections
                .iter()
                .map(|c| {
                    (
                        c.from.clone(),
                        c.output.clone(),
                        c.topic.clone(),
                        c.to.clone(),
                        c.write,
                        c.repartition,
                    )
                })
                .collect(),
        })
    }

    /// The application it was, parsed again (components are not read).
    pub fn app(&self) -> Result<App, String> {
        let processors = self
            .manifests
            .iter()
            .map(|(path, text)| Manifest::parse(path, text).map(Arc::new).map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(App {
            path: self.manifests.first().map(|(p, _)| p.clone()).unwrap_or_default(),
            processors,
            connections: self
                .connections
                .iter()
                .map(|(from, output, topic, to, write, repartition)| Connection {
                    from: from.clone(),
                    output: output.clone(),
                    topic: topic.clone(),
                    to: to.clone(),
                    write: *write,
                    repartition: *repartition,
                })
                .collect(),
            interceptors: Vec::new(),
        })
    }

    /// The version last recorded under `dir` (the application's state
    /// directory); `None` when there is none or it cannot be read (logged).
    pub fn last(dir: &Path) -> Option<Deployed> {
        let path = dir.join(FILE);
        let bytes = std::fs::read(&path).ok()?;
        match serde_json::from_slice(&bytes) {
            Ok(deployed) => Some(deployed),
            Err(error) => {
                tracing::warn!(
                    "{} cannot be read ({error}); the upgrade is not checked",
                    path.display()
                );
                None
            }
        }
    }

    /// Records this version under `dir`, atomically (written beside, then
    /// renamed over the last).
    pub fn record(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        let temporary = dir.join(format!(".{FILE}.tmp"));
        std::fs::write(&temporary, serde_json::to_vec_pretty(self).expect("plain data"))?;
        std::fs::rename(&temporary, dir.join(FILE))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_recorded_version_reads_back_as_the_application_it_was() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
        let app = App::load_args(&[root.join("apps/metrics.toml")]).unwrap();
        let deployed = Deployed::of(&app.processors, &app.connections).unwrap();
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Deployed::last(dir.path()), None);
        deployed.record(dir.path()).unwrap();
        let last = Deployed::last(dir.path()).unwrap();
        assert_eq!(last, deployed);
        let again = last.app().unwrap();
        assert_eq!(again.connections, app.connections);
        let names: Vec<&str> = again.processors.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["metric-branch", "cpu-alert"]);
        assert!(crate::topology::upgrade::compare("metrics", &app, &again).is_empty());
    }
}
