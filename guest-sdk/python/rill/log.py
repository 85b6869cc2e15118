"""Logging into the host's log, tagged with processor and task (the Rust
SDK's `rill_sdk::log`). Natively (Driver) lines are kept in `Driver.logs`."""

from . import _host


def log(level: str, message: str) -> None:
    """Writes `message` at `level` (trace, debug, info, warn, error)."""
    _host.current.log(level, str(message))


def trace(message: str) -> None:
    """Logs at trace level."""
    log("trace", message)


def debug(message: str) -> None:
    """Logs at debug level."""
    log("debug", message)


def info(message: str) -> None:
    """Logs at info level."""
    log("info", message)


def warn(message: str) -> None:
    """Logs at warn level."""
    log("warn", message)


def error(message: str) -> None:
    """Logs at error level."""
    log("error", message)
