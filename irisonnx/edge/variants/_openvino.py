"""Shared by the OpenVINO edge variants: the source ONNX read by OpenVINO's ONNX frontend and
saved as OpenVINO IR (``model.<variant>.xml``, the graph, and ``model.<variant>.bin``, the
weights; both go in the bundle and are checked against the manifest), run by OpenVINO's CPU
plugin in f32 (``INFERENCE_PRECISION_HINT=f32``: its default on CPUs with bf16 arithmetic is
bf16, see irisonnx.runtimes.openvino). Weights are saved as they are (``compress_to_fp16=False``;
ov.save_model's default would halve them to f16)."""

from __future__ import annotations

import hashlib
import importlib.util
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from irisonnx.edge.variants.base import Source, Variant
from irisonnx.errors import ArtifactError

__all__ = ["INSTALL_HINT", "IrInfo", "IrRunner", "OpenVinoVariant"]

INSTALL_HINT = "pip install 'irisonnx[openvino]'"


@dataclass
class IrInfo:
    """What :meth:`OpenVinoVariant.check` gives: what the builder reads of a ModelInfo."""

    path: Path
    size: int  # .xml + .bin bytes
    sha256: str  # of the .xml (the .bin has its own manifest entry)
    input_names: list[str]
    output_names: list[str]
    ops: dict[str, int] = field(default_factory=dict)  # OpenVINO op types (opset names) -> count
    weight_bytes: int = 0
    proto: Any = None  # no ONNX graph


class IrRunner:
    """An IR compiled for the CPU in f32; ``run_feeds`` as a Predictor's."""

    def __init__(self, compiled: Any, names: list[str]) -> None:
        import openvino as ov

        self.compiled, self.names = compiled, names
        self.request = compiled.create_infer_request()
        self.ports = {n: p for p in compiled.inputs for n in p.get_names()}
        self._tensor = ov.Tensor

    def run_feeds(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        req = self.request
        arrays = {k: np.require(v, requirements="C") for k, v in feeds.items() if k in self.ports}
        if any(a.ndim == 0 for a in arrays.values()):
            res = req.infer(arrays)
            return {n: np.asarray(res[i]) for i, n in enumerate(self.names)}
        for k, a in arrays.items():
            req.set_tensor(self.ports[k], self._tensor(a, shared_memory=a.flags.writeable))
        req.infer()
        return {n: req.get_output_tensor(i).data.copy() for i, n in enumerate(self.names)}


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def openvino_version() -> str:
    from irisonnx.runtimes.openvino import _version

    return _version()


class OpenVinoVariant(Variant):
    """A variant that is an OpenVINO IR pair (.xml + .bin) run by OpenVINO's CPU plugin."""

    family = "openvino"
    suffix = ".xml"
    runtime = "openvino"
    packages: tuple[str, ...] = ("openvino",)

    def skip_reason(self, src: Source) -> str | None:
        missing = [p for p in self.packages if importlib.util.find_spec(p) is None]
        if missing:
            return f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not installed: {INSTALL_HINT}"
        return None

    def bundle_files(self, path: Path) -> list[Path]:
        return [path, path.with_suffix(".bin")]

    def read_source(self, src: Source) -> Any:
        """The source ONNX as an ov.Model (from the checked bytes; the path when its weights
        are external data). An op the frontend lacks raises (the builder skips the variant
        with the frontend's first line)."""
        import openvino as ov

        core = ov.Core()
        info = src.info
        return core.read_model(str(info.path)) if info.has_external_data else core.read_model(info.data)

    @staticmethod
    def save(model: Any, out_path: Path, src: Source) -> None:
        """``out_path`` (.xml) and its .bin, float32 weights kept. Each output tensor is named
        by its ONNX output alone (OpenVINO may add names of the nodes it fused), so a loader
        with only openvino, like the bundle's predict.py, finds it by ``get_any_name()``."""
        import openvino as ov

        from irisonnx.runtimes.openvino import OpenVinoRuntime

        for port, name in zip(model.outputs, OpenVinoRuntime._output_names(model, list(src.info.output_names))):
            port.get_tensor().set_names({name})
        ov.save_model(model, str(out_path), compress_to_fp16=False)

    def check(self, path: Path) -> IrInfo:
        import openvino as ov

        xml, bin_ = Path(path), Path(path).with_suffix(".bin")
        try:
            model = ov.Core().read_model(str(xml), str(bin_))
        except RuntimeError as exc:
            raise ArtifactError(f"{xml.name} is no readable OpenVINO IR", str(exc).strip().splitlines()[-1] if str(exc).strip() else "") from None
        ops = Counter(op.get_type_name() for op in model.get_ops() if op.get_type_name() not in ("Parameter", "Result", "Constant"))
        wbytes = sum(int(op.get_byte_size()) for op in model.get_ops() if op.get_type_name() == "Constant")
        return IrInfo(
            path=xml,
            size=xml.stat().st_size + (bin_.stat().st_size if bin_.exists() else 0),
            sha256=_sha256(xml),
            input_names=[p.get_any_name() for p in model.inputs],
            output_names=[p.get_any_name() for p in model.outputs],
            ops=dict(sorted(ops.items(), key=lambda kv: (-kv[1], kv[0]))),
            weight_bytes=wbytes,
        )

    def load(self, path: Any, threads: int | None) -> IrRunner:
        import openvino as ov

        from irisonnx.runtimes.openvino import OpenVinoRuntime

        info = self.check(path) if isinstance(path, (str, Path)) else path
        core = ov.Core()
        cfg: dict[str, Any] = {"INFERENCE_PRECISION_HINT": "f32"}
        if threads:
            cfg["INFERENCE_NUM_THREADS"] = int(threads)
        try:
            compiled = core.compile_model(core.read_model(str(info.path), str(Path(info.path).with_suffix(".bin"))), "CPU", cfg)
        except RuntimeError as exc:
            raise ArtifactError(f"OpenVINO cannot compile {Path(info.path).name}", str(exc).strip().splitlines()[-1] if str(exc).strip() else "") from None
        return IrRunner(compiled, OpenVinoRuntime._output_names(compiled, list(info.output_names)))
