"""The one small interface every runtime implements (after Polygraphy's runner).

A runtime is built from a :class:`RuntimeContext`, says whether it can run
(:meth:`Runtime.is_available` -> ``(ok, reason)``), is activated once, runs
``dict[input name -> ndarray]`` to ``dict[output name -> ndarray]`` (any rank, any row count;
checked against the model's signature by the caller), and describes what actually ran
(:meth:`info`). Outputs that are not tensors (a sequence of maps, as skl2onnx's ZipMap gives)
are turned into arrays by :func:`normalise_outputs`, or refused with the output's name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from irisonnx.errors import UsageError

__all__ = ["Runtime", "RuntimeContext", "Intermediate", "normalise_outputs", "Feeds"]

Feeds = dict  # dict[str, np.ndarray]: arrays by input (or output) name


@dataclass
class RuntimeContext:
    """What runtimes may need: the ONNX file and/or the run (for torch), plus the output names."""

    model_path: Path | None = None
    run: Any = None  # irisonnx.training.run.Run
    output_names: list[str] = field(default_factory=lambda: ["logits"])
    golden_dir: Path | None = None
    golden: Any = None  # irisonnx.data.golden.GoldenSet, for the golden runtime
    module: Any = None  # irisonnx.training.module.ModuleSpec: a user's torch module (--module FILE.py:FACTORY)
    model_info: Any = None  # irisonnx.modelfile.onnx_io.ModelInfo, already checked for safety
    threads: int | None = None  # bench --threads: Predictor workers, torch intra-op threads; None: defaults
    headers: list = field(default_factory=list)  # (name, value) pairs for remote: (--header); never shown


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

    def run(self, feeds: dict[str, np.ndarray], start: int = 0) -> dict[str, np.ndarray]:
        """Run one chunk: arrays by input name (already checked against the signature);
        ``start`` is the chunk's first row (or the sample's index). Outputs by name."""
        if not isinstance(feeds, dict):
            raise TypeError(f"{self.name}: feeds must be a dict of arrays by input name, got {type(feeds).__name__}")
        self.activate()
        return normalise_outputs(self._run(feeds, start), self.name)

    def info(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind}

    def intermediates(self, feeds: dict[str, np.ndarray]) -> list[Intermediate]:
        """Every intermediate tensor in execution order (for --locate); optional."""
        raise NotImplementedError(f"{self.name} cannot expose intermediate tensors")

    # -- for subclasses -----------------------------------------------------------------
    def _activate(self) -> None:  # pragma: no cover - trivial default
        pass

    def _run(self, feeds: dict[str, np.ndarray], start: int) -> dict[str, Any]:
        raise NotImplementedError


def normalise_outputs(outs: dict[str, Any], who: str) -> dict[str, np.ndarray]:
    """Every output as an ndarray. A sequence of maps (one map per row, as skl2onnx's ZipMap
    writes class -> probability) becomes a (rows, keys) float array with the keys in sorted
    order, so it is compared key by key; a sequence of equal-shaped tensors is stacked. Any
    other non-tensor output is refused (exit 2) naming it."""
    out: dict[str, np.ndarray] = {}
    for name, v in outs.items():
        if isinstance(v, np.ndarray):
            out[name] = v
        elif isinstance(v, (list, tuple)) and all(isinstance(m, dict) for m in v):
            keys = sorted(v[0]) if v else []
            if any(sorted(m) != keys for m in v):
                raise UsageError(f"{who}: output {name!r} is a sequence of maps with differing keys", "irisonnx compares maps key by key", "export the model without the map (skl2onnx: options={'zipmap': False})")
            out[name] = np.array([[m[k] for k in keys] for m in v], dtype=np.float64 if v and isinstance(v[0][keys[0]] if keys else 0.0, float) else None).reshape(len(v), len(keys))
            if out[name].dtype == np.float64:
                out[name] = out[name].astype(np.float32)
        elif isinstance(v, (list, tuple)) and all(isinstance(t, np.ndarray) for t in v) and len({t.shape for t in v}) <= 1 and v:
            out[name] = np.stack(v)
        elif np.isscalar(v):
            out[name] = np.asarray(v)
        else:
            raise UsageError(f"{who}: output {name!r} is a {type(v).__name__}, not a tensor", "irisonnx compares tensors, sequences of equal tensors and sequences of maps", "export the model with tensor outputs (skl2onnx: options={'zipmap': False})")
    return out
