"""One error hierarchy. Each class carries the process exit code the CLI uses.

Exit codes (documented in the README, relied on by scripts):
  0 ok; 1 a check failed; 2 bad usage or bad input data; 3 a corrupt, unsafe or
  incompatible artifact; 4 a runtime/provider unavailable or an I/O failure; 130 interrupted.
"""

from __future__ import annotations

__all__ = [
    "IrisOnnxError",
    "CheckFailed",
    "UsageError",
    "DataError",
    "ArtifactError",
    "RuntimeUnavailable",
    "StorageError",
    "EXIT_OK",
    "EXIT_CHECK_FAILED",
    "EXIT_USAGE",
    "EXIT_ARTIFACT",
    "EXIT_UNAVAILABLE",
    "EXIT_INTERRUPTED",
]

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2
EXIT_ARTIFACT = 3
EXIT_UNAVAILABLE = 4
EXIT_INTERRUPTED = 130


class IrisOnnxError(Exception):
    """Base class. ``str(err)`` is the one-line message shown to users."""

    exit_code = EXIT_USAGE

    def __init__(self, what: str, why: str = "", hint: str = "") -> None:
        self.what, self.why, self.hint = what, why, hint
        msg = what
        if why:
            msg += f": {why}"
        if hint:
            msg += f"; {hint}"
        super().__init__(msg)


class CheckFailed(IrisOnnxError):
    """A verification, parity check or gate did not pass."""

    exit_code = EXIT_CHECK_FAILED


class UsageError(IrisOnnxError):
    """Bad flags, bad paths, or a config that conflicts with what is on disk."""

    exit_code = EXIT_USAGE


class DataError(UsageError):
    """Bad input data (CSV, npy, values)."""


class ArtifactError(IrisOnnxError):
    """A corrupt, unsafe, tampered or incompatible artifact (checkpoint, model, manifest)."""

    exit_code = EXIT_ARTIFACT


class RuntimeUnavailable(IrisOnnxError):
    """A runtime or execution provider was asked for and cannot run."""

    exit_code = EXIT_UNAVAILABLE


class StorageError(IrisOnnxError):
    """Writing or reading the file system failed (disk full, permission denied)."""

    exit_code = EXIT_UNAVAILABLE
