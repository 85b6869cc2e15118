//! The compile cache: Cranelift output of each component, keyed by the
//! component's content hash and the engine's compatibility hash, under
//! `<state-dir>/compiled/`. A restart or a swap back to a known build loads
//! in about a millisecond instead of compiling.

use sha2::{Digest, Sha256};
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use wasmtime::Engine;
use wasmtime::component::Component;

/// A directory of precompiled components.
#[derive(Debug, Clone)]
pub struct CompileCache {
    dir: PathBuf,
}

impl CompileCache {
    /// A cache in `dir` (created on first write).
    pub fn new(dir: PathBuf) -> Self {
        CompileCache { dir }
    }

    /// The compiled component for `bytes`: from the cache when present,
    /// otherwise compiled and stored (a failed store only costs speed).
    pub fn component(&self, engine: &Engine, bytes: &[u8]) -> wasmtime::Result<Component> {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let content: String = Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect();
        let path = self.dir.join(format!("{content}-{:016x}.cwasm", hasher.finish()));
        if path.exists() {
            // SAFETY: files in the cache are written only by rill (below),
            // from `Component::serialize` of the same engine configuration
            // (the compatibility hash is part of the name).
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(component) => return Ok(component),
                Err(error) => tracing::warn!("ignoring unreadable compile cache entry {}: {error}", path.display()),
            }
        }
        let component = Component::new(engine, bytes)?;
        let stored = component
            .serialize()
            .map_err(std::io::Error::other)
            .and_then(|compiled| {
                std::fs::create_dir_all(&self.dir)?;
                let temporary = path.with_extension("tmp");
                std::fs::write(&temporary, compiled)?;
                std::fs::rename(&temporary, &path)
            });
        if let Err(error) = stored {
            tracing::warn!("cannot store {} in the compile cache: {error}", path.display());
        }
        Ok(component)
    }
}
