//! Which WIT world a project is built for, decided by its manifest's kind.

/// The WIT world a project is built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum World {
    /// `rill:processor` (wit/): every processor.
    Processor,
    /// `rill:interceptor` (wit/interceptor/): a manifest with
    /// `kind = "interceptor"` (docs/interceptors.md).
    Interceptor,
}
