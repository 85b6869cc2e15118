//! C projects: the checkout's tools/c/build-plugin.sh compiles `app.c` (and
//! the project's other `.c` files, its `*_test.c` aside) with the C SDK
//! (guest-sdk/c) using clang's wasm32-wasi target, then wraps the module into
//! a component with tools/c-component. The script is the one way C plugins
//! are built (scripts/build-plugins.sh and the tests' build.rs run it too);
//! this side checks its tools first so a missing one is named with its fix.

use super::error::BuildError;
use super::toolbox::Toolbox;
use super::toolchain::{Toolchain, run_step};
use super::world::World;
use std::path::Path;
use std::process::Command;

/// The C toolchain.
pub(crate) struct C;

impl Toolchain for C {
    fn build(&self, project: &Path, _: World, tools: &Toolbox, _scratch: &Path, out: &Path) -> Result<(), BuildError> {
        tools.c_component()?;
        let clang = tools.clang()?;
        let script = tools.in_home("tools/c/build-plugin.sh")?;
        let wit = tools.wit_for(project)?;
        // The script works in a folder next to `out`, in scratch; it finds
        // c-component in the target folder given (the one checked above).
        run_step(
            &format!("tools/c/build-plugin.sh (app.c in {})", project.display()),
            Command::new("bash")
                .arg(&script)
                .arg(project)
                .arg(&wit)
                .arg(out)
                .env("CARGO_TARGET_DIR", tools.tools_target())
                .env("RILL_CLANG", &clang),
            || "install bash".to_string(),
        )?;
        Ok(())
    }
}
