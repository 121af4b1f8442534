"""``fp32-opt``: onnxruntime's offline graph optimisation at ``ORT_ENABLE_EXTENDED``, saved
through ``SessionOptions.optimized_model_filepath``. EXTENDED fuses Gemm+Relu into
``com.microsoft.FusedGemm``, so the file needs an onnxruntime with contrib ops (every standard
build; a minimal build lists them in required_operators.config). ``ALL`` would add layout
transforms (NCHWc) that onnxruntime itself says are specific to the machine that made them; an
edge file must run on another CPU, so we stop at EXTENDED."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from irisonnx.edge.variants._ort import OPT_LEVEL, OrtVariant
from irisonnx.edge.variants.base import Source


def _fp32_opt(src: Path, work: Path) -> bytes:
    from irisonnx.runtimes.ort_engine import create_session  # the one session factory

    out = work / "optimized.onnx"
    create_session(src, graph_optimization=OPT_LEVEL, optimized_model_path=out, where=str(src))  # written as a side effect
    return out.read_bytes()


class Fp32Opt(OrtVariant):
    name = "fp32-opt"
    kind = "fp32"
    summary = "onnxruntime's offline graph optimisation (extended level)"

    def convert(self, src_file: Path, src: Source, work: Path, opts: Any, calibration: Any) -> bytes:
        return _fp32_opt(src_file, work)

    def settings(self, opts: Any, src: Source, made: Any = None, generic: bool = False) -> dict[str, Any]:
        return {"tool": "onnxruntime SessionOptions.optimized_model_filepath", "graph_optimization_level": f"ORT_ENABLE_{OPT_LEVEL.upper()}"}

    def notes(self, res: Any, src: Source, n_random: int) -> list[str]:
        custom = sorted({k.split("::")[0] for k in res.ops if "::" in k})
        return [f"uses {', '.join(custom)} ops (contrib ops: every standard onnxruntime build has them)"] if custom else []


VARIANT = Fp32Opt()
