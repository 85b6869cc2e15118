//! Test fixture for `[[grants]]`: each record's value is one file
//! operation, and the plugin emits to `out` what came of it, `ok`, `ok:
//! <what was read>` or `err: <the error's kind>`, so a test sees what the
//! sandbox allowed (and the files on the host show what it did):
//!
//! - `append PATH TEXT`: open for appending (created if missing), write TEXT
//! - `create PATH TEXT`: create or truncate, write TEXT
//! - `overwrite PATH TEXT`: open an existing file for writing, write TEXT at 0
//! - `fill PATH N`: append N bytes of `x`
//! - `read PATH`: the file's content
//! - `list PATH`: the names in a directory, sorted, comma-separated
//! - `delete PATH`, `rename FROM TO`, `mkdir PATH`
//! - `symlink PATH TARGET`, `hardlink PATH TARGET`: make a link at PATH
//!   (PATH and TARGET relative to the first preopened directory)
//! - `pwrite PATH TEXT`: write TEXT at the end of PATH (relative to the
//!   first preopened directory, created if missing) with one
//!   `descriptor.write`, which reports `wasi:filesystem`'s own error code
//!   (Rust's std writes through streams, whose failures reach it as `EIO`)
//!
//! Errors from `wasi:filesystem` called directly read as the code's WIT
//! name (`err: not-permitted`), those from std as the `io::ErrorKind`.
//!
//! Errors are values, never traps: the record is processed either way.

use rill_sdk::{Error, Output, Processor, Record};
use serde::Deserialize;
use std::io::{Read, Seek, SeekFrom, Write};

/// The file-operation processor.
pub struct Files;

/// The `[config]` table (empty).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {}

impl Processor for Files {
    type Config = Config;

    fn init(_config: Config) -> Result<Self, Error> {
        Ok(Files)
    }

    fn process(&mut self, record: Record) -> Result<Vec<Output>, Error> {
        let command = String::from_utf8_lossy(record.value.as_deref().unwrap_or_default()).into_owned();
        let result = match run(&command) {
            Ok(seen) if seen.is_empty() => "ok".to_string(),
            Ok(seen) => format!("ok: {seen}"),
            Err(e) => format!("err: {e}"),
        };
        Ok(vec![Output::map_value(record, "out", result.into_bytes())])
    }
}

/// Runs one command; `Ok` carries what was read, `Err` the error's kind.
fn run(command: &str) -> Result<String, String> {
    let mut words = command.splitn(3, ' ');
    let (verb, path, rest) = (
        words.next().unwrap_or_default(),
        words.next().unwrap_or_default(),
        words.next().unwrap_or_default(),
    );
    let kind = |e: std::io::Error| format!("{:?}", e.kind());
    match verb {
        "append" => std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .and_then(|mut f| f.write_all(rest.as_bytes()))
            .map(|()| String::new())
            .map_err(kind),
        "create" => std::fs::write(path, rest).map(|()| String::new()).map_err(kind),
        "overwrite" => std::fs::OpenOptions::new()
            .write(true)
            .open(path)
            .and_then(|mut f| {
                f.seek(SeekFrom::Start(0))?;
                f.write_all(rest.as_bytes())
            })
            .map(|()| String::new())
            .map_err(kind),
        "fill" => {
            let n: usize = rest.parse().map_err(|_| "bad count".to_string())?;
            std::fs::OpenOptions::new()
                .append(true)
                .create(true)
                .open(path)
                .and_then(|mut f| f.write_all(&vec![b'x'; n]))
                .map(|()| String::new())
                .map_err(kind)
        }
        "read" => {
            let mut text = String::new();
            std::fs::File::open(path)
                .and_then(|mut f| f.read_to_string(&mut text))
                .map(|_| text)
                .map_err(kind)
        }
        "list" => std::fs::read_dir(path)
            .and_then(|entries| {
                let mut names = entries
                    .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
                    .collect::<Result<Vec<_>, _>>()?;
                names.sort();
                Ok(names.join(","))
            })
            .map_err(kind),
        "delete" => std::fs::remove_file(path).map(|()| String::new()).map_err(kind),
        "rename" => std::fs::rename(path, rest).map(|()| String::new()).map_err(kind),
        "mkdir" => std::fs::create_dir(path).map(|()| String::new()).map_err(kind),
        "symlink" | "hardlink" => link(verb == "symlink", path, rest),
        "pwrite" => pwrite(path, rest),
        other => Err(format!("unknown command {other:?}")),
    }
}

/// Makes a link through `wasi:filesystem` in the first preopened directory.
fn link(symbolic: bool, path: &str, target: &str) -> Result<String, String> {
    let directories = wasip2::filesystem::preopens::get_directories();
    let (dir, _) = directories.first().ok_or("no preopened directory")?;
    let made = if symbolic {
        dir.symlink_at(target, path)
    } else {
        dir.link_at(wasip2::filesystem::types::PathFlags::empty(), target, dir, path)
    };
    made.map(|()| String::new()).map_err(|code| code.name().to_string())
}

/// Writes `text` at the end of `path` with one `descriptor.write`.
fn pwrite(path: &str, text: &str) -> Result<String, String> {
    use wasip2::filesystem::types::{DescriptorFlags, OpenFlags, PathFlags};
    let name = |code: wasip2::filesystem::types::ErrorCode| code.name().to_string();
    let directories = wasip2::filesystem::preopens::get_directories();
    let (dir, _) = directories.first().ok_or("no preopened directory")?;
    let file = dir
        .open_at(PathFlags::empty(), path, OpenFlags::CREATE, DescriptorFlags::WRITE)
        .map_err(name)?;
    let size = file.stat().map_err(name)?.size;
    file.write(text.as_bytes(), size).map(|_| String::new()).map_err(name)
}

rill_sdk::export!(Files);
