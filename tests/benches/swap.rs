//! `cargo bench -p rill-tests --bench swap`: what a hot swap costs. Cold
//! load (compile + world check + trial init), cached load (from the compile
//! cache), and instance creation, which is the whole pause a task takes at
//! its batch boundary when it switches builds (loading happens off the
//! processing path).

use rill_host::manifest::Manifest;
use rill_host::plugin::cache::CompileCache;
use rill_host::plugin::{Plugin, new_engine};
use std::sync::Arc;
use std::time::Instant;

fn main() {
    let mut manifest = Manifest::load(&rill_tests::workspace().join("plugins/cpu-alert/plugin.toml")).unwrap();
    manifest.component = rill_tests::component("cpu-alert");
    let manifest = Arc::new(manifest);
    let engine = new_engine().unwrap();
    let cache_dir = tempfile::tempdir().unwrap();
    let cache = CompileCache::new(cache_dir.path().to_path_buf());

    let ms = |started: Instant| started.elapsed().as_secs_f64() * 1e3;
    let started = Instant::now();
    Plugin::load(&engine, manifest.clone(), Some(&cache)).unwrap();
    println!(
        "cold load (compile {} KB, world check, trial init): {:.1} ms",
        std::fs::metadata(&manifest.component).unwrap().len() / 1024,
        ms(started)
    );

    let rounds = 20;
    let started = Instant::now();
    let mut plugin = None;
    for _ in 0..rounds {
        plugin = Some(Plugin::load(&engine, manifest.clone(), Some(&cache)).unwrap());
    }
    println!(
        "cached load (deserialize, world check, trial init): {:.2} ms",
        ms(started) / rounds as f64
    );

    let plugin = plugin.unwrap();
    let rounds = 200;
    let started = Instant::now();
    for _ in 0..rounds {
        std::hint::black_box(plugin.start("bench", None).unwrap());
    }
    println!(
        "instance creation + init (a task's pause when it switches builds): {:.3} ms",
        ms(started) / rounds as f64
    );
}
