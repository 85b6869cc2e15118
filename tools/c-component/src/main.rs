//! `c-component`: the two steps of building a C processor that need the
//! component model's own tools.
//!
//! - `c-component bindings WIT_DIR OUT_DIR` writes `processor.h` and
//!   `processor.c` (wit-bindgen's C bindings of the `processor` world) for the
//!   SDK to compile against.
//! - `c-component new WIT_DIR CORE.wasm OUT.wasm` embeds the world's type
//!   information into the core module clang linked and encodes it as a
//!   component, with the WASI preview-1 reactor adapter turning wasi-libc's
//!   preview-1 imports into WASI 0.2 ones.

use anyhow::{Context, Result, bail};
use std::path::Path;
use wit_parser::{Resolve, WorldId};

/// The world every rill processor implements.
const WORLD: &str = "processor";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["bindings", wit, out] => bindings(Path::new(wit), Path::new(out)),
        ["new", wit, core, out] => new(Path::new(wit), Path::new(core), Path::new(out)),
        _ => bail!(
            "usage: c-component bindings WIT_DIR OUT_DIR\n       c-component new WIT_DIR CORE.wasm OUT.wasm"
        ),
    }
}

/// The `processor` world of the WIT package in `dir`.
fn world(dir: &Path) -> Result<(Resolve, WorldId)> {
    let mut resolve = Resolve::default();
    let (package, _) = resolve
        .push_dir(dir)
        .with_context(|| format!("reading the WIT package in {}", dir.display()))?;
    let world = resolve
        .select_world(&[package], Some(WORLD))
        .with_context(|| format!("{} has no world '{WORLD}'", dir.display()))?;
    Ok((resolve, world))
}

/// Writes the C bindings of the world into `out`.
fn bindings(wit: &Path, out: &Path) -> Result<()> {
    let (mut resolve, world) = world(wit)?;
    // The type information is embedded by `new` instead of a linked object
    // file, so any clang's linker will do.
    let opts = wit_bindgen_c::Opts {
        no_object_file: true,
        ..Default::default()
    };
    let mut files = wit_bindgen_core::Files::default();
    opts.build().generate(&mut resolve, world, &mut files)?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    for (name, contents) in files.iter() {
        let path = out.join(name);
        std::fs::write(&path, contents).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Turns the core module `core` into the component `out`.
fn new(wit: &Path, core: &Path, out: &Path) -> Result<()> {
    let (resolve, world) = world(wit)?;
    let mut module = std::fs::read(core).with_context(|| format!("reading {}", core.display()))?;
    wit_component::embed_component_metadata(
        &mut module,
        &resolve,
        world,
        wit_component::StringEncoding::UTF8,
        false,
    )?;
    let component = wit_component::ComponentEncoder::default()
        .validate(true)
        .module(&module)?
        .adapter(
            wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME,
            wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
        )?
        .encode()
        .with_context(|| format!("encoding {} as a component", core.display()))?;
    std::fs::write(out, component).with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}
