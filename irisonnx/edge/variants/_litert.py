"""What the LiteRT edge variants share: the float32 ``.tflite`` (the ``litert`` runtime's own
conversion: onnx2tf from the ONNX file with ``irisonnx setup litert``, else litert-torch from
the run's torch weights), a check that reads it back, and a runner over it by ONNX names.

The float32 conversion is an artifact under the run (``RUN/conversions/``, reused while the
source is unchanged); each variant writes its own file from it: ``litert-fp32`` a copy,
``litert-fp16`` float16 weights, ``litert-int8`` int8 weights and activations calibrated on the
rows int8-static uses (:mod:`irisonnx.runtimes.litert_quant`). The bundle's predict.py runs
them with ai-edge-litert and numpy only (its ``litert`` loader).
"""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from irisonnx.edge.variants.base import Source, Variant

__all__ = ["LiteRTVariant", "TFLiteFile"]

PACKAGE_HINT = "ai-edge-litert is not installed: pip install 'irisonnx[litert]'"


@dataclass
class TFLiteFile:
    """What :meth:`LiteRTVariant.check` gives: the written file and what the figures need."""

    path: Path
    size: int
    sha256: str
    signature: Any  # the source model's (names and dtypes the runner answers with)
    made_by: dict[str, Any]  # route, converter, versions
    proto: Any = None  # not an ONNX file
    output_names: list[str] | None = None
    ops: dict[str, int] | None = None  # operator counts (the report's op table)
    weight_bytes: int = 0


class _Runner:
    """``run_feeds`` over a :class:`~irisonnx.runtimes.litert.TFLiteModel` (the gates' only call)."""

    def __init__(self, model: Any) -> None:
        self.model = model

    def run_feeds(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self.model.run(feeds)


class LiteRTVariant(Variant):
    family = "litert"
    suffix = ".tflite"
    runtime = "litert"
    precision = "f32"  # what the file stores: f32, f16 weights, int8

    def __init__(self) -> None:
        self._made: dict[str, dict[str, Any]] = {}

    # -- applies? ---------------------------------------------------------------------------
    def _runtime(self, src: Source) -> Any:
        from irisonnx.runtimes.litert import LiteRTRuntime
        from irisonnx.runtimes.torch_eager import torch_context

        # Without the converter, litert-torch converts the torch module: edge --module's, or the run's.
        run_dir = src.run_dir if src.run_dir is not None else _run_of(src)
        ctx = torch_context(src.info, run_dir=run_dir, module_spec=src.module_spec)
        ctx.threads = 1
        rt = LiteRTRuntime(ctx)
        rt.batch1 = self.precision != "int8"  # the quantizer mixes two signatures' tensors up
        return rt

    def skip_reason(self, src: Source) -> str | None:
        if importlib.util.find_spec("ai_edge_litert") is None:
            return PACKAGE_HINT
        if self.precision != "f32" and importlib.util.find_spec("ai_edge_quantizer") is None:
            return "ai-edge-quantizer is not installed: pip install 'irisonnx[litert]'"
        ok, why = self._runtime(src).is_available()
        return None if ok else why

    # -- make -------------------------------------------------------------------------------
    def _float32(self, src: Source) -> tuple[Path, dict[str, Any]]:
        """The float32 conversion (reused while the source is unchanged) and how it was made."""
        rt = self._runtime(src)
        rt.activate()  # converts (or reuses) and loads it: a model LiteRT cannot run fails here
        try:
            info = rt.info()
        finally:
            rt.deactivate()
        return Path(info["converted_file"]), {"route": info["route"], "versions": info["versions"], "conversion": info["conversion"], "reused": info["reused"]}

    def convert(self, fp32: Path, out_path: Path, src: Source, calibration: Any) -> dict[str, Any]:
        """Write this variant's file from the float32 one; what to add to its settings."""
        shutil.copyfile(fp32, out_path)
        return {}

    def make(self, src: Source, out_path: Path, work: Path, opts: Any, calibration: Any) -> None:
        fp32, made_by = self._float32(src)
        made_by.update(self.convert(fp32, out_path, src, calibration))
        made_by["source_sha256"] = src.sha256
        self._made.pop(str(out_path), None)  # the latest last (settings without the file read it)
        self._made[str(out_path)] = {"made_by": made_by, "signature": src.signature, "outputs": list(src.info.output_names)}

    def check(self, path: Path) -> TFLiteFile:
        data = Path(path).read_bytes()
        known = self._made.get(str(path), {})
        return TFLiteFile(Path(path), len(data), hashlib.sha256(data).hexdigest(), known.get("signature"), known.get("made_by", {}), None, known.get("outputs"), _ops(Path(path)), len(data))

    def load(self, path: Any, threads: int | None) -> _Runner:
        from irisonnx.runtimes.litert import TFLiteModel, _np_dtype, quiet_output

        made = path if isinstance(path, TFLiteFile) else self.check(Path(path))
        sig = made.signature
        ins = [i.name for i in sig.inputs] if sig is not None else []
        outs = sig.output_names if sig is not None else []
        dtypes = {o.name: _np_dtype(o.dtype) for o in sig.outputs} if sig is not None else {}
        tail: list[str] = []
        with quiet_output(tail):
            return _Runner(TFLiteModel(made.path, ins, outs, threads=threads or 1, out_dtypes=dtypes))

    def settings(self, opts: Any, src: Source, made: Any = None, generic: bool = False) -> dict[str, Any]:
        by = (made.made_by if isinstance(made, TFLiteFile) else None) or (list(self._made.values())[-1]["made_by"] if self._made else {})
        return {"tool": by.get("route", "ai-edge-litert"), "precision": self.precision, **{k: v for k, v in by.items() if k in ("versions", "quantizer", "recipe", "calibration")}}


def _run_of(src: Source) -> Path | None:
    """The run folder whose exported model.onnx ``src`` is (same bytes as its manifest says)."""
    from irisonnx.training.run import is_run_dir

    p = src.path
    if p.name != "model.onnx" or not is_run_dir(p.parent):
        return None
    try:
        from irisonnx.training.run import Run

        entry = Run.open(p.parent).manifest().entry(p)
    except Exception:  # noqa: BLE001 - not a readable run: no torch weights to offer
        return None
    return p.parent if entry is not None and entry.get("sha256") == src.sha256 else None


def _ops(path: Path) -> dict[str, int]:
    """The tflite's operators by name (as _ops counts an ONNX graph's)."""
    from collections import Counter

    from irisonnx.runtimes.litert import quiet_output

    tail: list[str] = []
    try:
        with quiet_output(tail):
            from ai_edge_litert.interpreter import Interpreter

            ops = Counter(d["op_name"] for d in Interpreter(model_path=str(path))._get_ops_details())
    except Exception:  # noqa: BLE001 - a count for the report only
        return {}
    return dict(sorted(ops.items(), key=lambda kv: (-kv[1], kv[0])))


def calibration_feeds(calibration: Any, src: Source) -> list[dict[str, np.ndarray]]:
    """The calibration rows (the one classifier input's) or feeds, as a list of feeds."""
    if calibration is None:
        from irisonnx.errors import UsageError

        raise UsageError("litert-int8 needs calibration rows", "no dataset", "pass a run folder, or --data for a bare .onnx file")
    if isinstance(calibration, list):
        return calibration
    return [{src.signature.inputs[0].name: np.asarray(calibration, dtype=np.float32)}]
