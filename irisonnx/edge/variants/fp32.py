"""``fp32``: the source model's bytes, unchanged (the same sha256 as the run's model.onnx): the
baseline every other variant is compared with."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from irisonnx.edge.variants._ort import OrtVariant
from irisonnx.edge.variants.base import Source


class Fp32(OrtVariant):
    name = "fp32"
    kind = "fp32"
    source = True
    summary = "the exported model, byte for byte (the baseline)"

    def make(self, src: Source, out_path: Path, work: Path, opts: Any, calibration: Any) -> None:
        out_path.write_bytes(src.info.data)

    def settings(self, opts: Any, src: Source, made: Any = None, generic: bool = False) -> dict[str, Any]:
        return {"tool": "the source model (unchanged)" if generic else "irisonnx export (unchanged)"}


VARIANT = Fp32()
