//! Python projects: componentize-py (from scripts/setup.sh's venv) bundles
//! the project's `app` module and the rill Python SDK (guest-sdk/python)
//! with CPython into a component of the `processor` world, or of the
//! `interceptor` world (wit/interceptor/) for an interceptor's project.

use super::error::BuildError;
use super::toolbox::Toolbox;
use super::toolchain::{Toolchain, run_step};
use super::world::World;
use std::path::Path;
use std::process::Command;

/// The Python toolchain.
pub(crate) struct Python;

impl Toolchain for Python {
    fn build(
        &self,
        project: &Path,
        world: World,
        tools: &Toolbox,
        scratch: &Path,
        out: &Path,
    ) -> Result<(), BuildError> {
        let componentize = tools.componentize_py()?;
        let sdk = tools.in_home("guest-sdk/python")?;
        let (wit, world) = match world {
            World::Processor => (tools.wit_for(project)?, "processor"),
            World::Interceptor => (tools.in_home("wit/interceptor")?, "interceptor"),
        };
        run_step(
            &format!("componentize-py (app.py in {})", project.display()),
            Command::new(&componentize)
                // Nothing is written into the project or the SDK.
                .current_dir(scratch)
                .env("PYTHONDONTWRITEBYTECODE", "1")
                .arg("-d")
                .arg(&wit)
                .args(["-w", world, "componentize", "-p"])
                .arg(project)
                .arg("-p")
                .arg(&sdk)
                .args(["app", "-o"])
                .arg(out),
            || tools.setup_fix("componentize-py"),
        )?;
        Ok(())
    }
}
