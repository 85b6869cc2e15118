//! A manifest's `[[grants]]` made real: each granted directory checked and
//! opened when the plugin loads, the byte budget its writes draw on, and
//! the preopens a sandbox gets. Everything not granted stays out of reach:
//! a sandbox without grants has no preopened directory at all.
//!
//! What a plugin may do inside a grant is enforced by [`super::grant_fs`],
//! which stands in for wasmtime-wasi's `wasi:filesystem/types`. Any
//! sandbox (processors, and other plugin kinds built on `HostState`) gets
//! the same rules by holding a [`Grants`] and linking [`link`].

use crate::manifest::{GrantAccess, GrantSpec, Manifest};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Weak};
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

pub use super::grant_fs::link;

/// A granted directory that cannot be used: names the manifest, the field
/// and the fix, like a manifest error, since the manifest is what the user
/// edits (or the directory it names).
#[derive(Debug, thiserror::Error)]
#[error("{}: `grants[{index}].dir`: {problem}\n  fix: {fix}", manifest.display())]
pub struct GrantError {
    /// The manifest that declares the grant.
    pub manifest: PathBuf,
    /// The grant's position in `[[grants]]`.
    pub index: usize,
    /// What is wrong with the directory.
    pub problem: String,
    /// What to do about it.
    pub fix: String,
}

/// The directories one plugin may use, checked and resolved; cheap to
/// clone (every instance of the plugin holds the same budgets).
#[derive(Clone)]
pub struct Grants {
    entries: Arc<[Granted]>,
    /// The processor's name, the `processor` label of refusals.
    processor: Arc<str>,
    /// The manifest that declares them, named by errors.
    manifest: Arc<Path>,
}

/// One resolved grant.
pub(super) struct Granted {
    /// As the manifest states it.
    pub(super) spec: GrantSpec,
    /// The directory, canonical.
    pub(super) host: PathBuf,
    /// What its files hold; `None` for read grants, which never write.
    pub(super) budget: Option<Arc<Budget>>,
}

impl Granted {
    /// What the plugin may do here.
    pub(super) fn access(&self) -> GrantAccess {
        self.spec.access
    }

    /// Takes `bytes` more from the budget if they fit under `max-size`.
    pub(super) fn charge(&self, bytes: u64) -> bool {
        match (&self.budget, self.spec.max_size) {
            (Some(budget), Some(limit)) => budget.charge(bytes, limit),
            _ => false,
        }
    }

    /// Gives back `bytes` (a file shrank or went away, or a write fell short).
    pub(super) fn release(&self, bytes: u64) {
        if let Some(budget) = &self.budget {
            budget.release(bytes);
        }
    }
}

impl Grants {
    /// No directory at all: the sandbox of a plugin without `[[grants]]`.
    pub fn none() -> Grants {
        Grants {
            entries: Arc::new([]),
            processor: "".into(),
            manifest: Path::new("").into(),
        }
    }

    /// Checks every grant of `manifest` against the machine: the directory
    /// exists (or `create = true` makes it), is a directory, is not a
    /// symlink, and no two grants end up overlapping once links in their
    /// parents are resolved. Each writing grant shares the byte budget of
    /// its directory with every other plugin granted the same directory in
    /// this process, counted from the files there now.
    pub fn open(manifest: &Manifest) -> Result<Grants, GrantError> {
        Self::open_specs(&manifest.name, &manifest.path, &manifest.grants)
    }

    /// [`Grants::open`] for any kind of plugin (an interceptor's manifest):
    /// plugin `name`'s `grants`, declared in `path`.
    pub fn open_specs(name: &str, path: &Path, grants: &[GrantSpec]) -> Result<Grants, GrantError> {
        let mut entries: Vec<Granted> = Vec::with_capacity(grants.len());
        for (index, spec) in grants.iter().enumerate() {
            let refuse = |problem: String, fix: String| GrantError {
                manifest: path.to_path_buf(),
                index,
                problem,
                fix,
            };
            let host = resolve(spec).map_err(|(problem, fix)| refuse(problem, fix))?;
            if let Some((other, _)) = entries
                .iter()
                .enumerate()
                .find(|(_, e)| e.host.starts_with(&host) || host.starts_with(&e.host))
            {
                return Err(refuse(
                    format!(
                        "\"{}\" is {} on this machine, which overlaps grants[{other}].dir",
                        spec.dir.display(),
                        host.display()
                    ),
                    "grant directories that are neither the same nor one inside the other".into(),
                ));
            }
            let budget = match spec.access {
                GrantAccess::Read => None,
                GrantAccess::Append | GrantAccess::ReadWrite => Some(Budget::for_dir(&host).map_err(|e| {
                    refuse(
                        format!("cannot measure \"{}\": {e}", host.display()),
                        "make the directory and everything in it readable by rill".into(),
                    )
                })?),
            };
            entries.push(Granted {
                spec: spec.clone(),
                host,
                budget,
            });
        }
        Ok(Grants {
            entries: entries.into(),
            processor: name.into(),
            manifest: path.into(),
        })
    }

    /// Preopens every granted directory in `builder` at its guest path.
    /// Read grants are read-only to wasmtime-wasi as well; the rest of
    /// each access is [`super::grant_fs`]'s.
    pub fn preopen(&self, builder: &mut WasiCtxBuilder) -> Result<(), GrantError> {
        for (index, granted) in self.entries.iter().enumerate() {
            let perms = match granted.spec.access {
                GrantAccess::Read => FsPerms::ReadOnly,
                GrantAccess::Append | GrantAccess::ReadWrite => FsPerms::ReadWrite,
            };
            builder
                .preopened_dir(&granted.host, &granted.spec.guest, perms)
                .map_err(|e| GrantError {
                    manifest: self.manifest.to_path_buf(),
                    index,
                    problem: format!("cannot open \"{}\": {e:#}", granted.host.display()),
                    fix: "keep the granted directory in place while rill runs".into(),
                })?;
        }
        Ok(())
    }

    /// The grant at `index` (preopen order).
    pub(super) fn get(&self, index: usize) -> Option<&Granted> {
        self.entries.get(index)
    }

    /// Counts a write the budget refused (`rill_grant_writes_refused_total`).
    pub(super) fn count_refusal(&self, index: usize) {
        if let Some(granted) = self.entries.get(index) {
            metrics::counter!(
                crate::observe::metrics::GRANT_WRITES_REFUSED,
                "processor" => self.processor.to_string(),
                "grant" => granted.spec.guest.clone()
            )
            .increment(1);
        }
    }

    /// How many bytes the files of each grant hold now as the host counts
    /// them, in manifest order (`None` for read grants, which are not
    /// counted).
    pub fn usage(&self) -> Vec<Option<u64>> {
        self.entries
            .iter()
            .map(|g| g.budget.as_ref().map(|b| b.used()))
            .collect()
    }
}

/// The directory of `spec`, created if asked, canonical; refused if it is
/// missing, a symlink or not a directory.
fn resolve(spec: &GrantSpec) -> Result<PathBuf, (String, String)> {
    let dir = &spec.dir;
    match std::fs::symlink_metadata(dir) {
        Ok(meta) if meta.file_type().is_symlink() => {
            let target = std::fs::read_link(dir)
                .map(|t| t.display().to_string())
                .unwrap_or_default();
            return Err((
                format!(
                    "\"{}\" is a symbolic link (to \"{target}\"); grants never follow links",
                    dir.display()
                ),
                "grant the directory the link points to, by its own path".into(),
            ));
        }
        Ok(meta) if !meta.is_dir() => {
            return Err((
                format!("\"{}\" is not a directory", dir.display()),
                "grant a directory; move the file into one".into(),
            ));
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && spec.create => {
            std::fs::create_dir_all(dir).map_err(|e| {
                (
                    format!("cannot create \"{}\": {e}", dir.display()),
                    "create it yourself, or grant a directory rill may create".into(),
                )
            })?;
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err((
                format!(
                    "\"{}\" does not exist (relative paths start at the directory rill runs in)",
                    dir.display()
                ),
                "create the directory, or add `create = true` to this grant".into(),
            ));
        }
        Err(e) => {
            return Err((
                format!("cannot read \"{}\": {e}", dir.display()),
                "make the directory readable by rill".into(),
            ));
        }
    }
    dir.canonicalize().map_err(|e| {
        (
            format!("cannot resolve \"{}\": {e}", dir.display()),
            "make the directory readable by rill".into(),
        )
    })
}

/// The bytes the files under one granted directory hold, shared by every
/// plugin instance granted that directory in this process.
pub(super) struct Budget {
    used: AtomicU64,
}

/// Budgets by canonical directory, so two processors (or two builds of one
/// across a hot swap) granted the same directory draw on one count.
static BUDGETS: LazyLock<Mutex<HashMap<PathBuf, Weak<Budget>>>> = LazyLock::new(Default::default);

impl Budget {
    /// The budget of `dir`, counted from its files when no live plugin
    /// holds it yet.
    fn for_dir(dir: &Path) -> std::io::Result<Arc<Budget>> {
        let mut budgets = BUDGETS.lock();
        if let Some(budget) = budgets.get(dir).and_then(Weak::upgrade) {
            return Ok(budget);
        }
        budgets.retain(|_, b| b.strong_count() > 0);
        let budget = Arc::new(Budget {
            used: AtomicU64::new(bytes_under(dir)?),
        });
        budgets.insert(dir.to_path_buf(), Arc::downgrade(&budget));
        Ok(budget)
    }

    /// Adds `bytes` if the total stays within `limit`.
    fn charge(&self, bytes: u64, limit: u64) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|total| *total <= limit)
            })
            .is_ok()
    }

    /// Takes `bytes` off, never below zero.
    fn release(&self, bytes: u64) {
        let _ = self.used.fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
            Some(used.saturating_sub(bytes))
        });
    }

    /// The bytes counted now.
    fn used(&self) -> u64 {
        self.used.load(Ordering::Acquire)
    }
}

/// The sizes of the regular files under `dir`, links not followed.
fn bytes_under(dir: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            total += bytes_under(&entry.path())?;
        } else if kind.is_file() {
            total += entry.metadata()?.len();
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(grants: &str) -> Manifest {
        let text = format!(
            "manifest-version = 1\nname = \"g\"\nversion = \"1.0.0\"\ncomponent = \"g.wasm\"\ndead-letter = \"g.dlq\"\n[[inputs]]\ntopic = \"in\"\n{grants}"
        );
        Manifest::parse(Path::new("apps/g/plugin.toml"), &text).unwrap()
    }

    fn grant(dir: &Path, extra: &str) -> String {
        format!(
            "[[grants]]\ndir = \"{}\"\naccess = \"append\"\nmax-size = \"100B\"\n{extra}",
            dir.display()
        )
    }

    #[test]
    fn a_missing_directory_is_refused_naming_the_fix_unless_create_is_set() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a/b");
        let error = Grants::open(&manifest(&grant(&dir, ""))).err().unwrap().to_string();
        assert!(error.starts_with("apps/g/plugin.toml: `grants[0].dir`: "), "{error}");
        assert!(
            error.contains("does not exist") && error.contains("add `create = true`"),
            "{error}"
        );
        assert!(!dir.exists());
        Grants::open(&manifest(&grant(&dir, "create = true\n"))).unwrap();
        assert!(dir.is_dir());
    }

    #[test]
    fn a_symlink_or_a_file_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let real = root.path().join("real");
        std::fs::create_dir(&real).unwrap();
        let link = root.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let error = Grants::open(&manifest(&grant(&link, ""))).err().unwrap().to_string();
        assert!(
            error.contains("is a symbolic link") && error.contains("grant the directory the link points to"),
            "{error}"
        );
        let file = root.path().join("file");
        std::fs::write(&file, "x").unwrap();
        let error = Grants::open(&manifest(&grant(&file, ""))).err().unwrap().to_string();
        assert!(error.contains("is not a directory"), "{error}");
    }

    #[test]
    fn the_budget_counts_the_files_there_and_is_shared_by_every_holder() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join("sub")).unwrap();
        std::fs::write(root.path().join("a"), [0u8; 30]).unwrap();
        std::fs::write(root.path().join("sub/b"), [0u8; 20]).unwrap();
        let first = Grants::open(&manifest(&grant(root.path(), ""))).unwrap();
        let second = Grants::open(&manifest(&grant(root.path(), ""))).unwrap();
        assert_eq!(first.usage(), [Some(50)]);
        let (a, b) = (first.get(0).unwrap(), second.get(0).unwrap());
        assert!(a.charge(40), "50 + 40 fits in 100");
        assert!(!b.charge(11), "the other holder sees the 90");
        assert!(b.charge(10));
        assert!(!a.charge(1), "100 is full");
        a.release(25);
        assert_eq!(second.usage(), [Some(75)]);
    }
}
