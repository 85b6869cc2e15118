//! What bounds a plugin instance: a memory cap (a `ResourceLimiter`), a time
//! bound per call, and its stdout/stderr turned into host log lines tagged
//! with processor and task.
//!
//! The time bound has two halves. Epoch interruption (a 10 ms ticker) traps
//! Wasm code that computes past the deadline. A call blocked in the host
//! instead (a WASI sleep, a poll on a clock) runs no Wasm code to interrupt,
//! so every call is a future run under a timeout ([`call_within`]): when the
//! time is up the future is dropped, which abandons the call wherever it is,
//! and the instance is replaced like after any trap.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use wasmtime::Engine;

/// How often the epoch advances; the resolution of the time limit.
pub const TICK: Duration = Duration::from_millis(10);

/// Starts the thread that advances `engine`'s epoch every [`TICK`]. It
/// stops by itself once the engine is dropped.
pub fn start_ticker(engine: &Engine) {
    let weak = engine.weak();
    let spawned = std::thread::Builder::new().name("rill-epoch".into()).spawn(move || {
        while let Some(engine) = weak.upgrade() {
            engine.increment_epoch();
            drop(engine);
            std::thread::sleep(TICK);
        }
    });
    if let Err(error) = spawned {
        tracing::error!("cannot start the epoch ticker; plugin time limits will not fire: {error}");
    }
}

thread_local! {
    /// Each thread that calls plugins (workers, the loader) drives their
    /// futures on a small runtime of its own: WASI's clocks need tokio's
    /// timers.
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a tokio runtime for plugin calls");
}

/// Why a plugin call was abandoned while blocked in the host.
#[derive(Debug, thiserror::Error)]
#[error(
    "exceeded the time limit of {} per batch (limits.time-per-batch) while blocked in a WASI call (a sleep, a poll or a stream)",
    humantime::format_duration(*.0)
)]
pub struct BlockedPastLimit(pub Duration);

/// Runs a plugin call to completion on this thread, abandoning it with
/// [`BlockedPastLimit`] if it is still blocked after `limit`.
pub fn call_within<T>(
    limit: Duration,
    call: impl std::future::Future<Output = wasmtime::Result<T>>,
) -> wasmtime::Result<T> {
    RUNTIME.with(|runtime| {
        runtime.block_on(async {
            match tokio::time::timeout(limit, call).await {
                Ok(result) => result,
                Err(_) => Err(wasmtime::Error::new(BlockedPastLimit(limit))),
            }
        })
    })
}

/// Epoch ticks for a time limit (at least one).
pub fn ticks(limit: Duration) -> u64 {
    (limit.as_millis() / TICK.as_millis()).max(1) as u64
}

/// Which limit a trapped plugin call hit, if any: decided where the trap
/// is caught, from what wasmtime and the limiter report (never from the
/// trap's text). The `kind` label of `rill_plugin_traps_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrapKind {
    /// The call ran (or blocked) past `limits.time-per-batch`.
    TimeLimit,
    /// The instance asked for more linear memory than `limits.memory`.
    MemoryLimit,
    /// Any other trap (a panic, `unreachable`, an out-of-bounds access).
    Trap,
}

impl TrapKind {
    /// Every kind's label, for registering their series at zero.
    pub const LABELS: [&'static str; 3] = ["time-limit", "memory-limit", "trap"];

    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            TrapKind::TimeLimit => Self::LABELS[0],
            TrapKind::MemoryLimit => Self::LABELS[1],
            TrapKind::Trap => Self::LABELS[2],
        }
    }
}

/// A plugin call that trapped: its kind and a one-line description (the
/// limit hit, if one was, what trapped, the innermost Wasm frames).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{description}")]
pub struct Trapped {
    /// Which limit, if any.
    pub kind: TrapKind,
    /// The line for logs and dead-letter headers.
    pub description: String,
}

/// Turns a trap into a [`Trapped`]. `memory_denied`: the limiter refused a
/// memory growth during the call. Never the host's Rust backtrace,
/// whatever `RUST_BACKTRACE` says: an operator needs the plugin's frames,
/// not ours.
pub fn describe_trap(error: &anyhow::Error, limits: &crate::manifest::Limits, memory_denied: bool) -> Trapped {
    let trap = error.downcast_ref::<wasmtime::Trap>().copied();
    let (kind, limit) = if error.downcast_ref::<BlockedPastLimit>().is_some() {
        // Its own message names the limit.
        (TrapKind::TimeLimit, String::new())
    } else if trap == Some(wasmtime::Trap::Interrupt) {
        (
            TrapKind::TimeLimit,
            format!(
                "exceeded the time limit of {} per batch (limits.time-per-batch): ",
                humantime::format_duration(limits.time_per_batch)
            ),
        )
    } else if memory_denied {
        (
            TrapKind::MemoryLimit,
            format!(
                "exceeded the memory limit of {} MiB (limits.memory): ",
                limits.memory >> 20
            ),
        )
    } else {
        (TrapKind::Trap, String::new())
    };
    Trapped {
        kind,
        description: format!("{limit}{}", one_line(error)),
    }
}

/// Frames of a Wasm backtrace worth a log line.
const FRAMES: usize = 5;

/// An error from a plugin call as one line: its root cause, then up to
/// five Wasm frames, innermost first.
pub fn one_line(error: &anyhow::Error) -> String {
    let cause = error.root_cause().to_string();
    let mut line: String = cause.split_whitespace().collect::<Vec<_>>().join(" ");
    if let Some(backtrace) = error.downcast_ref::<wasmtime::WasmBacktrace>() {
        let frames: Vec<String> = backtrace
            .frames()
            .iter()
            .take(FRAMES)
            .map(|f| match f.func_name() {
                Some(name) => name.to_string(),
                None => format!("func[{}]", f.func_index()),
            })
            .collect();
        if !frames.is_empty() {
            line.push_str("; wasm frames: ");
            line.push_str(&frames.join(" <- "));
            if backtrace.frames().len() > FRAMES {
                line.push_str(" <- ...");
            }
        }
    }
    line
}

/// A plugin's stdout or stderr: complete lines go to the host log.
#[derive(Clone)]
pub struct LogStream {
    tag: Arc<str>,
    stream: &'static str,
}

impl LogStream {
    /// Output of `stream` ("stdout"/"stderr") of the instance tagged `tag`.
    pub fn new(tag: Arc<str>, stream: &'static str) -> Self {
        LogStream { tag, stream }
    }
}

impl wasmtime_wasi::cli::IsTerminal for LogStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl wasmtime_wasi::cli::StdoutStream for LogStream {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(LineWriter {
            out: self.clone(),
            pending: Vec::new(),
        })
    }
}

/// Buffers bytes until a newline, then logs the line.
struct LineWriter {
    out: LogStream,
    pending: Vec<u8>,
}

impl LineWriter {
    fn emit(&mut self, line: &[u8]) {
        let text = String::from_utf8_lossy(line);
        tracing::info!(plugin = &*self.out.tag, stream = self.out.stream, "{}", text.trim_end());
    }
}

/// Longest line kept before it is logged anyway, so output without
/// newlines cannot grow host memory.
const MAX_LINE: usize = 16 * 1024;

impl tokio::io::AsyncWrite for LineWriter {
    fn poll_write(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.pending.extend_from_slice(buf);
        while let Some(at) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=at).collect();
            self.emit(&line);
        }
        if self.pending.len() > MAX_LINE {
            let line = std::mem::take(&mut self.pending);
            self.emit(&line);
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        if !self.pending.is_empty() {
            let line = std::mem::take(&mut self.pending);
            self.emit(&line);
        }
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.poll_flush(cx)
    }
}

/// The clocks a plugin sees: frozen at the Unix epoch. The world grants no
/// clock (Rust's std links WASI's anyway), so a plugin cannot make its
/// output depend on when it runs; record timestamps are the time to use.
pub struct FrozenClock;

impl wasmtime_wasi::HostWallClock for FrozenClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

impl wasmtime_wasi::HostMonotonicClock for FrozenClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }

    fn now(&self) -> u64 {
        0
    }
}

#[cfg(test)]
mod tests {
    //! A trap's kind is decided from what wasmtime and the limiter report,
    //! never from the trap's text.
    use super::*;
    use crate::manifest::Limits;

    fn kind(error: anyhow::Error, memory_denied: bool) -> (TrapKind, String) {
        let trapped = describe_trap(&error, &Limits::default(), memory_denied);
        (trapped.kind, trapped.description)
    }

    #[test]
    fn the_kind_comes_from_the_trap_code_the_timeout_and_the_limiter() {
        let (k, text) = kind(anyhow::Error::new(wasmtime::Trap::Interrupt), false);
        assert_eq!(k, TrapKind::TimeLimit);
        assert!(text.starts_with("exceeded the time limit of 1s per batch"), "{text}");

        let (k, text) = kind(anyhow::Error::new(BlockedPastLimit(Duration::from_millis(300))), false);
        assert_eq!(k, TrapKind::TimeLimit);
        assert!(text.contains("while blocked in a WASI call"), "{text}");

        let (k, text) = kind(anyhow::Error::new(wasmtime::Trap::UnreachableCodeReached), true);
        assert_eq!(k, TrapKind::MemoryLimit, "the limiter refused a growth during the call");
        assert!(text.starts_with("exceeded the memory limit of 64 MiB"), "{text}");

        // The same trap without a refused growth is a plain trap, whatever
        // its text says.
        let (k, _) = kind(anyhow::anyhow!("memory limit grow (a plugin's own words)"), false);
        assert_eq!(k, TrapKind::Trap);
    }

    #[test]
    fn labels_are_the_metric_values() {
        let labels: Vec<&str> = [TrapKind::TimeLimit, TrapKind::MemoryLimit, TrapKind::Trap]
            .into_iter()
            .map(TrapKind::label)
            .collect();
        assert_eq!(labels, TrapKind::LABELS);
    }
}
