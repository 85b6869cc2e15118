//! `[[grants]]`: the directories a plugin may use, as the manifest states
//! them, and the checks that need nothing but the file. Whether a directory
//! exists, is a symlink or may be created is decided when the plugin loads
//! (`plugin/grants.rs`), since it depends on the machine, not the manifest.

use super::raw::RawGrant;
use super::problems::{Problems, parse_bytes};
use std::path::{Component, Path, PathBuf};

/// What a plugin may do inside a granted directory (`access`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GrantAccess {
    /// List, stat, open and read; nothing is created, written, deleted or
    /// renamed.
    Read,
    /// `read`, plus create files and directories and add bytes at the end
    /// of files; existing bytes are never changed (no truncation, no write
    /// before a file's end, no delete, no rename).
    Append,
    /// Everything within the directory, within `max-size`.
    ReadWrite,
}

impl GrantAccess {
    /// The manifest's spelling, for listings and messages.
    pub fn name(self) -> &'static str {
        match self {
            GrantAccess::Read => "read",
            GrantAccess::Append => "append",
            GrantAccess::ReadWrite => "read-write",
        }
    }
}

/// One `[[grants]]` entry: a host directory the plugin sees at `guest`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantSpec {
    /// The host directory as written: relative to the working directory
    /// rill runs in, or absolute.
    pub dir: PathBuf,
    /// Where the plugin sees it: an absolute path without `.` or `..`.
    pub guest: String,
    /// What the plugin may do in it.
    pub access: GrantAccess,
    /// Total bytes of the files in the directory beyond which the host
    /// refuses a write (`None` for `read`, which writes nothing).
    pub max_size: Option<u64>,
    /// Create `dir` (with its parents) at load if it is missing.
    pub create: bool,
}

/// Checks every `[[grants]]` entry, then how the entries relate: no two
/// overlap (on the host or in the guest).
pub(super) fn check_grants(p: &mut Problems, raw: Vec<RawGrant>) -> Vec<GrantSpec> {
    let mut grants: Vec<GrantSpec> = Vec::with_capacity(raw.len());
    for (i, grant) in raw.into_iter().enumerate() {
        if let Some(spec) = check_grant(p, i, grant) {
            grants.push(spec);
        }
    }
    let cwd = std::env::current_dir().unwrap_or_default();
    for (j, later) in grants.iter().enumerate() {
        for (i, earlier) in grants[..j].iter().enumerate() {
            let (a, b) = (lexical(&cwd.join(&earlier.dir)), lexical(&cwd.join(&later.dir)));
            if a.starts_with(&b) || b.starts_with(&a) {
                let how = if earlier.access == later.access {
                    "".to_string()
                } else {
                    format!(
                        " with other access ({} and {})",
                        earlier.access.name(),
                        later.access.name()
                    )
                };
                p.add(
                    &format!("grants[{j}].dir"),
                    (
                        format!(
                            "\"{}\" overlaps grants[{i}].dir \"{}\"{how}",
                            later.dir.display(),
                            earlier.dir.display()
                        ),
                        "grant each directory once, and never one inside another: drop one of the two or grant sibling directories".into(),
                    ),
                );
            }
            if is_within(&earlier.guest, &later.guest) || is_within(&later.guest, &earlier.guest) {
                p.add(
                    &format!("grants[{j}].guest"),
                    (
                        format!("\"{}\" overlaps grants[{i}].guest \"{}\"", later.guest, earlier.guest),
                        "give each grant a guest path of its own, none inside another (e.g. \"/logs\" and \"/cache\")"
                            .into(),
                    ),
                );
            }
        }
    }
    grants
}

/// One entry on its own.
fn check_grant(p: &mut Problems, i: usize, raw: RawGrant) -> Option<GrantSpec> {
    let field = |name: &str| format!("grants[{i}].{name}");
    let mut ok = true;
    if raw.dir.trim().is_empty() {
        p.add(
            &field("dir"),
            (
                "is empty".into(),
                "name the host directory, relative to the directory rill runs in (e.g. \"logs\") or absolute".into(),
            ),
        );
        ok = false;
    }
    let dir = PathBuf::from(&raw.dir);
    let guest = match raw.guest {
        Some(guest) => p.take(&field("guest"), check_guest(&guest)),
        None => match lexical(&dir).file_name().and_then(|n| n.to_str()) {
            Some(last) if !raw.dir.trim().is_empty() => Some(format!("/{last}")),
            _ if raw.dir.trim().is_empty() => None,
            _ => {
                p.add(
                    &field("guest"),
                    (
                        format!("cannot be derived from dir \"{}\", which has no last segment", raw.dir),
                        "write where the plugin sees the directory, e.g. `guest = \"/data\"`".into(),
                    ),
                );
                None
            }
        },
    };
    let max_size = match (raw.access, raw.max_size) {
        (GrantAccess::Read, None) => None,
        (GrantAccess::Read, Some(_)) => {
            p.add(
                &field("max-size"),
                (
                    "is set on a read grant, which writes nothing".into(),
                    "remove `max-size`, or give `access = \"append\"` or \"read-write\"".into(),
                ),
            );
            ok = false;
            None
        }
        (access, None) => {
            p.add(
                &field("max-size"),
                (
                    format!(
                        "is missing; an {} grant needs a bound on what the plugin may write",
                        access.name()
                    ),
                    "add `max-size = \"64MiB\"` (total bytes of the files in the directory)".into(),
                ),
            );
            ok = false;
            None
        }
        (_, Some(text)) => match parse_bytes(&text) {
            Some(0) | None => {
                p.add(
                    &field("max-size"),
                    (
                        format!("\"{text}\" is not a size of at least 1 byte"),
                        "write a size such as \"64MiB\", \"512KiB\" or \"1GiB\"".into(),
                    ),
                );
                ok = false;
                None
            }
            Some(bytes) => Some(bytes as u64),
        },
    };
    let guest = guest?;
    ok.then_some(GrantSpec {
        dir,
        guest,
        access: raw.access,
        max_size,
        create: raw.create,
    })
}

/// `guest`: absolute, and only normal segments below the root (read from
/// the text: `Path` would drop a `.` silently).
fn check_guest(guest: &str) -> Result<String, (String, String)> {
    let trimmed = guest.trim_end_matches('/');
    let segments: Vec<&str> = trimmed.split('/').skip(1).collect();
    let normal = !segments.is_empty() && segments.iter().all(|s| !s.is_empty() && *s != "." && *s != "..");
    if !guest.starts_with('/') || !normal {
        let last = guest
            .split('/')
            .rfind(|s| !s.is_empty() && *s != "." && *s != "..")
            .unwrap_or("data");
        return Err((
            format!("\"{guest}\" is not an absolute path below \"/\" without `.` or `..`"),
            format!("write e.g. `guest = \"/{last}\"`"),
        ));
    }
    Ok(trimmed.to_string())
}

/// Whether guest path `inner` is `outer` or inside it.
fn is_within(outer: &str, inner: &str) -> bool {
    Path::new(inner).starts_with(outer)
}

/// `path` with `.` dropped and `..` applied to the segments before it,
/// without reading the filesystem: how two spellings of one grant's `dir`
/// are found to be the same (here, and by `rill test`, which maps each
/// granted directory to one of its own).
pub fn lexical(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::Manifest;
    use super::*;

    const HEAD: &str = "manifest-version = 1\nname = \"x\"\nversion = \"1.0.0\"\ncomponent = \"x.wasm\"\ndead-letter = \"x.dlq\"\n[[inputs]]\ntopic = \"in\"\n";

    fn parse(grants: &str) -> Result<Manifest, String> {
        Manifest::parse(Path::new("x/plugin.toml"), &format!("{HEAD}{grants}")).map_err(|e| e.to_string())
    }

    #[test]
    fn a_grant_defaults_its_guest_to_the_last_segment_and_create_to_false() {
        let m = parse("[[grants]]\ndir = \"var/logs\"\naccess = \"append\"\nmax-size = \"1MiB\"\n[[grants]]\ndir = \"/srv/ref/\"\nguest = \"/reference\"\naccess = \"read\"\ncreate = true\n").unwrap();
        assert_eq!(
            m.grants,
            [
                GrantSpec {
                    dir: "var/logs".into(),
                    guest: "/logs".into(),
                    access: GrantAccess::Append,
                    max_size: Some(1 << 20),
                    create: false,
                },
                GrantSpec {
                    dir: "/srv/ref/".into(),
                    guest: "/reference".into(),
                    access: GrantAccess::Read,
                    max_size: None,
                    create: true,
                },
            ]
        );
    }

    #[test]
    fn writing_grants_need_a_size_and_read_grants_refuse_one() {
        let e = parse("[[grants]]\ndir = \"a\"\naccess = \"read-write\"\n").unwrap_err();
        assert!(
            e.contains("`grants[0].max-size`: is missing") && e.contains("max-size = \"64MiB\""),
            "{e}"
        );
        let e = parse("[[grants]]\ndir = \"a\"\naccess = \"read\"\nmax-size = \"1MiB\"\n").unwrap_err();
        assert!(e.contains("`grants[0].max-size`: is set on a read grant"), "{e}");
        let e = parse("[[grants]]\ndir = \"a\"\naccess = \"append\"\nmax-size = \"lots\"\n").unwrap_err();
        assert!(e.contains("\"lots\" is not a size"), "{e}");
    }

    #[test]
    fn guests_are_absolute_without_dot_segments() {
        for bad in ["logs", "/", "/a/../b", "/a/./b"] {
            let e = parse(&format!(
                "[[grants]]\ndir = \"a\"\nguest = \"{bad}\"\naccess = \"read\"\n"
            ))
            .unwrap_err();
            assert!(e.contains("`grants[0].guest`"), "{bad}: {e}");
        }
        let e = parse("[[grants]]\ndir = \"..\"\naccess = \"read\"\n").unwrap_err();
        assert!(e.contains("cannot be derived from dir \"..\""), "{e}");
    }

    #[test]
    fn grants_may_not_overlap_on_the_host_or_in_the_guest() {
        let e = parse("[[grants]]\ndir = \"data\"\naccess = \"read\"\n[[grants]]\ndir = \"./data/sub/../sub\"\nguest = \"/sub\"\naccess = \"append\"\nmax-size = \"1KiB\"\n").unwrap_err();
        assert!(
            e.contains("`grants[1].dir`: \"./data/sub/../sub\" overlaps grants[0].dir \"data\" with other access (read and append)"),
            "{e}"
        );
        let e =
            parse("[[grants]]\ndir = \"a/logs\"\naccess = \"read\"\n[[grants]]\ndir = \"b/logs\"\naccess = \"read\"\n")
                .unwrap_err();
        assert!(e.contains("`grants[1].guest`: \"/logs\" overlaps"), "{e}");
        assert!(
            parse(
                "[[grants]]\ndir = \"a/logs\"\naccess = \"read\"\n[[grants]]\ndir = \"a/logs2\"\naccess = \"read\"\n"
            )
            .is_ok()
        );
    }
}
