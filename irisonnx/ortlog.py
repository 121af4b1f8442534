"""onnxruntime's process-wide default logger, and who may change it.

``onnxruntime.set_default_logger_severity`` changes the whole process and has no getter. A
library call must leave it as it found it, so irisonnx sessions set only their own level
(``SessionOptions.log_severity_level``). The CLI owns its process and its one-line stderr
contract: it calls :func:`quiet_process` once, and sessions then also silence the default
logger (messages onnxruntime logs outside any session). Imports nothing until used.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

__all__ = ["ORT_DEFAULT_SEVERITY", "quiet_process", "process_severity", "apply", "default_severity"]

ORT_DEFAULT_SEVERITY = 2  # onnxruntime's own default (WARNING)
_quiet = False


def quiet_process() -> None:
    """For the CLI only: silence onnxruntime's default logger for the rest of the process."""
    global _quiet
    _quiet = True


def process_severity() -> int:
    """The default logger's level as irisonnx left it: 4 (fatal only) under the CLI, else onnxruntime's default."""
    return 4 if _quiet else ORT_DEFAULT_SEVERITY


def apply(ort: Any) -> None:
    """Silence the default logger when the process asked for it (the CLI); else touch nothing."""
    if _quiet:
        ort.set_default_logger_severity(4)


@contextmanager
def default_severity(ort: Any, level: int) -> Iterator[None]:
    """The default logger at ``level`` for the ``with`` body (tools that create their own
    sessions, such as onnxruntime's quantiser), then back to :func:`process_severity`."""
    ort.set_default_logger_severity(level)
    try:
        yield
    finally:
        ort.set_default_logger_severity(process_severity())
