//! Python projects: componentize-py (from scripts/setup.sh's venv) bundles
//! the project's `app` module and the rill Python SDK (guest-sdk/python)
//! with CPython into a component of the `processor` world.

use super::error::BuildError;
use super::toolbox::Toolbox;
use super::toolchain::{Toolchain, run_step};
use std::path::Path;
use std::process::Command;

/// The Python toolchain.
pub(crate) struct Python;

impl Toolchain for Python {
    fn build(&self, project: &Path, tools: &Toolbox, scratch: &Path, out: &Path) -> Result<(), BuildError> {
        let componentize = tools.componentize_py()?;
        let sdk = tools.in_home("guest-sdk/python")?;
        let wit = tools.wit_for(project)?;
        run_step(
            &format!("componentize-py (app.py in {})", project.display()),
            Command::new(&componentize)
                // Nothing is written into the project or the SDK.
                .current_dir(scratch)
                .env("PYTHONDONTWRITEBYTECODE", "1")
                .arg("-d")
                .arg(&wit)
                .args(["-w", "processor", "componentize", "-p"])
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
