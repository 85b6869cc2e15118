//! JavaScript projects: the checkout's tools/js/build-plugin.sh bundles
//! `app.js` with rill-sdk (guest-sdk/js) using esbuild and builds the bundle
//! with componentize-js, both from tools/js/node_modules. The script is the
//! one way JavaScript plugins are built (scripts/build-plugins.sh and the
//! tests' build.rs run it too); this side checks its tools first so a
//! missing one is named with its fix.

use super::error::BuildError;
use super::toolbox::Toolbox;
use super::toolchain::{Toolchain, run_step};
use super::world::World;
use std::path::Path;
use std::process::Command;

/// The JavaScript toolchain.
pub(crate) struct Js;

impl Toolchain for Js {
    fn build(&self, project: &Path, _: World, tools: &Toolbox, _scratch: &Path, out: &Path) -> Result<(), BuildError> {
        tools.js_tool("esbuild")?;
        tools.js_tool("componentize-js")?;
        let script = tools.in_home("tools/js/build-plugin.sh")?;
        let wit = tools.wit_for(project)?;
        // The script writes its bundle next to `out`, in scratch.
        run_step(
            &format!("tools/js/build-plugin.sh (app.js in {})", project.display()),
            Command::new("bash").arg(&script).arg(project).arg(&wit).arg(out),
            || "install bash".to_string(),
        )?;
        Ok(())
    }
}
