//! The one thing each language does differently: turn a project folder into
//! a component file. Everything around it (finding the project, detecting the
//! language, placing the result next to the manifest) is shared, in `mod.rs`.

use super::error::BuildError;
use super::toolbox::Toolbox;
use super::world::World;
use std::path::Path;
use std::process::{Command, Output};

/// The build steps of one language.
pub(crate) trait Toolchain: Sync {
    /// Builds the project in folder `project` (holding plugin.toml and the
    /// language's files) into the component file `out` (a scratch path; the
    /// caller moves it next to the manifest). `scratch` is an empty folder
    /// for intermediate files, removed afterwards. `world` is the WIT world
    /// the manifest's kind needs (only Rust and Python are asked to build
    /// an interceptor).
    fn build(
        &self,
        project: &Path,
        world: World,
        tools: &Toolbox,
        scratch: &Path,
        out: &Path,
    ) -> Result<(), BuildError>;
}

/// Runs one build step, its output captured: a failure carries what it
/// printed, a tool that cannot start names the fix.
pub(crate) fn run_step(step: &str, command: &mut Command, fix: impl FnOnce() -> String) -> Result<Output, BuildError> {
    let output = command.output().map_err(|source| BuildError::Spawn {
        program: command.get_program().to_string_lossy().into_owned(),
        source,
        fix: fix(),
    })?;
    if output.status.success() {
        return Ok(output);
    }
    // Tools report errors on stderr; stdout only when stderr is silent
    // (cargo's stdout is its JSON messages here).
    let stderr = String::from_utf8_lossy(&output.stderr);
    let printed = if stderr.trim().is_empty() {
        String::from_utf8_lossy(&output.stdout).trim_end().to_string()
    } else {
        stderr.trim_end().to_string()
    };
    Err(BuildError::StepFailed {
        step: step.to_string(),
        status: output.status,
        output: printed,
    })
}
