"""The one small interface every runtime implements (after Polygraphy's runner).

A runtime is built from a :class:`RuntimeContext`, says whether it can run
(:meth:`Runtime.is_available` -> ``(ok, reason)``), is activated once, runs float32
``features`` chunks to named numpy outputs, and describes what actually ran (:meth:`info`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Runtime", "RuntimeContext", "Intermediate"]


@dataclass
class RuntimeContext:
    """What runtimes may need: the ONNX file and/or the run (for torch), plus the output names."""

    model_path: Path | None = None
    run: Any = None  # irisonnx.run.Run
    output_names: list[str] = field(default_factory=lambda: ["logits"])
    golden_dir: Path | None = None
    model_info: Any = None  # irisonnx.onnx_io.ModelInfo, already checked for safety
    threads: int | None = None  # bench --threads: Predictor workers, torch intra-op threads; None: defaults


@dataclass
class Intermediate:
    """One intermediate tensor for --locate: the tensor, and the ONNX node (or module) that made it."""

    tensor: str
    node: str
    op_type: str
    inputs: list[str]
    value: np.ndarray


class Runtime:
    """Base class. Subclasses set ``kind`` and implement :meth:`_activate` and :meth:`_run`."""

    kind = "runtime"

    def __init__(self, ctx: RuntimeContext, option: str = "") -> None:
        self.ctx, self.option = ctx, option
        self._active = False
        self.label: str | None = None  # a display name in place of the spec (bench's edge:VARIANT)

    @property
    def name(self) -> str:
        if self.label:
            return self.label
        return f"{self.kind}:{self.option}" if self.option else self.kind

    def is_available(self) -> tuple[bool, str]:
        return True, ""

    def activate(self) -> None:
        if not self._active:
            self._activate()
            self._active = True

    def deactivate(self) -> None:
        self._active = False

    def run(self, features: np.ndarray, start: int = 0) -> dict[str, np.ndarray]:
        """Run one chunk ``(batch, n_features)`` float32; ``start`` is its first row's index."""
        if features.ndim != 2 or features.dtype != np.float32:
            raise ValueError(f"{self.name}: expected float32 (batch, n_features), got {features.dtype} {features.shape}")
        self.activate()
        return self._run(features, start)

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind}

    def intermediates(self, features: np.ndarray) -> list[Intermediate]:
        """Every intermediate tensor in execution order (for --locate); optional."""
        raise NotImplementedError(f"{self.name} cannot expose intermediate tensors")

    # -- for subclasses -----------------------------------------------------------------
    def _activate(self) -> None:  # pragma: no cover - trivial default
        pass

    def _run(self, features: np.ndarray, start: int) -> dict[str, np.ndarray]:
        raise NotImplementedError
