"""OpenVINO on the CPU, reading the ONNX model directly (its ONNX frontend; no IR kept).

Precision: OpenVINO's CPU plugin runs in bf16 by default on CPUs with AMX or AVX512-BF16,
which moved the Iris MLP's logits by 6.5e-3 against onnxruntime: irisonnx asks for f32
(``INFERENCE_PRECISION_HINT=f32``; 1.5e-7 on Iris) unless an option says otherwise:
``openvino:bf16`` (the fast path), ``openvino:f16`` (the CPU plugin substitutes bf16 where the
CPU has no f16 arithmetic). :meth:`OpenVinoRuntime.info` reports the precision the compiled
model actually uses, read back from it.

The model is read from the checked bytes (``ctx.model_info.data``: what was hashed is what
runs), or from its path when its weights are in external data files. Any batch size runs
as given (a model with a fixed batch is fed as the caller chunks it). An op the ONNX
frontend has no conversion rule for is :class:`RuntimeUnsupported` (``unsupported: OP``):
compare skips openvino and compares the others.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from typing import Any

import numpy as np

from irisonnx.errors import RuntimeUnavailable, UsageError
from irisonnx.runtimes.base import Intermediate, Runtime
from irisonnx.runtimes.conversion import RuntimeUnsupported

__all__ = ["OpenVinoRuntime", "INSTALL_HINT"]

INSTALL_HINT = "pip install 'irisonnx[openvino]'"
_PRECISIONS = {"": "f32", "f32": "f32", "bf16": "bf16", "f16": "f16"}
_DEVICE = "CPU"
_NO_RULE = re.compile(r"No conversion rule found for operations?:\s*(.+)")


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("openvino")
    except Exception:  # noqa: BLE001 - a source build without metadata
        import openvino

        return str(openvino.__version__).split("-")[0]


def _first_line(exc: BaseException) -> str:
    """OpenVINO's messages start with the C++ source location; keep the first line that says something."""
    lines = [l.strip() for l in str(exc).splitlines() if l.strip()]
    useful = [l for l in lines if not l.startswith(("Exception from src/", "Check '", "FrontEnd API failed", "Model wasn't fully converted", "Summary:"))]
    return (useful or lines or [type(exc).__name__])[0][:300]


def _unsupported(exc: BaseException, stage: str) -> RuntimeUnsupported:
    """``unsupported: OP[, OP]`` when the ONNX frontend names ops it cannot convert; else the
    plugin's own first line (a type or shape the CPU plugin cannot compile)."""
    ops = []
    for m in _NO_RULE.finditer(str(exc)):
        ops += [o.strip() for o in m.group(1).split(",") if o.strip()]
    if ops:
        return RuntimeUnsupported("openvino cannot run this model", f"unsupported: OpType {', '.join(ops)} (OpenVINO {_version()}'s ONNX frontend has no conversion rule for it)")
    return RuntimeUnsupported("openvino cannot run this model", f"unsupported: {stage} failed: {_first_line(exc)}")


class OpenVinoRuntime(Runtime):
    kind = "openvino"
    ir_path: Path | None = None  # set to run an OpenVINO IR (.xml) of the model instead of the ONNX file


    def _precision(self) -> str:
        if self.option not in _PRECISIONS:
            raise UsageError(f"unknown option {self.option!r} for openvino", "use openvino (f32, the default), openvino:bf16 or openvino:f16")
        return _PRECISIONS[self.option]

    def is_available(self) -> tuple[bool, str]:
        self._precision()
        if importlib.util.find_spec("openvino") is None:
            return False, f"openvino is not installed: {INSTALL_HINT}"
        if self.ctx.model_info is None:
            return False, "needs an ONNX file (OpenVINO reads the .onnx; a run folder needs its model.onnx: irisonnx export RUN; with --module, give the exported .onnx too)"
        return True, ""

    def _config(self) -> dict[str, Any]:
        cfg: dict[str, Any] = {"INFERENCE_PRECISION_HINT": self._precision()}
        if self.ctx.threads:
            cfg["INFERENCE_NUM_THREADS"] = int(self.ctx.threads)
        return cfg

    def _read(self, core: Any, data: bytes | None = None) -> Any:
        """The ov.Model from the checked bytes (or ``data``), or from the path when the
        weights live in external data files (the bytes alone do not hold them)."""
        info = self.ctx.model_info
        try:
            if data is not None:
                return core.read_model(data)
            if self.ir_path is not None:  # an edge bundle's IR (bench --variants): .xml + .bin
                return core.read_model(str(self.ir_path), str(Path(self.ir_path).with_suffix(".bin")))
            if info.has_external_data:
                return core.read_model(str(info.path))
            return core.read_model(info.data)
        except RuntimeError as exc:
            raise _unsupported(exc, "reading the model") from None

    def _compile(self, core: Any, model: Any) -> Any:
        try:
            return core.compile_model(model, _DEVICE, self._config())
        except RuntimeError as exc:
            raise _unsupported(exc, "compiling for the CPU") from None

    def _activate(self) -> None:
        ok, why = self.is_available()
        if not ok:
            raise RuntimeUnavailable(f"{self.name} unavailable", why)
        import openvino as ov

        self._core = ov.Core()
        self.compiled = self._compile(self._core, self._read(self._core))
        self.request = self.compiled.create_infer_request()
        self._names = self._output_names(self.compiled, list(self.ctx.model_info.output_names))
        # An input the frontend folded away (an empty ``axes`` of a Reduce, say) is no port of
        # the compiled model, and feeding it by name is an error: it is left out.
        self._ports = {n: port for port in self.compiled.inputs for n in port.get_names()}
        self._tensor = ov.Tensor

    @staticmethod
    def _output_names(compiled: Any, onnx_names: list[str]) -> list[str]:
        """Each compiled output's ONNX name: the one among its tensor names, else the ONNX
        graph's output at that position (the frontend keeps the graph's order)."""
        out = []
        for i, port in enumerate(compiled.outputs):
            names = port.get_names()
            hit = [n for n in onnx_names if n in names]
            out.append(hit[0] if hit else onnx_names[i] if i < len(onnx_names) else port.get_any_name())
        return out

    def _run(self, feeds: dict[str, np.ndarray], start: int) -> dict[str, Any]:
        # Inputs wrap the caller's arrays (no copy; the call is synchronous), outputs are copied
        # out of the request's buffers (the next call reuses them). Half the per-call time of
        # request.infer(dict) at batch 1 (94-110 µs against 176-224 µs on the Iris MLP, 2 busy cores).
        # A 0-d array would become a [1] tensor: such feeds go through infer(dict), which keeps [].
        req = self.request
        try:
            arrays = {k: np.require(v, requirements="C") for k, v in feeds.items() if k in self._ports}
            if any(a.ndim == 0 for a in arrays.values()):
                res = req.infer(arrays)
                return {name: np.asarray(res[i]) for i, name in enumerate(self._names)}
            for k, a in arrays.items():
                req.set_tensor(self._ports[k], self._tensor(a, shared_memory=a.flags.writeable))
            req.infer()
            return {name: req.get_output_tensor(i).data.copy() for i, name in enumerate(self._names)}
        except RuntimeError as exc:
            raise RuntimeUnavailable(f"{self.name} failed to run the model", _first_line(exc)) from None

    def precision_used(self) -> str | None:
        if not self._active:
            return None
        return self.compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()

    def info(self) -> dict[str, Any]:
        asked = self._precision()
        d: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "versions": {"openvino": _version()},
            "precision": asked,
            "route": f"OpenVINO IR {Path(self.ir_path).name}" if self.ir_path is not None else "read ONNX directly",
            "device": _DEVICE,
            "conversion": None,
            "reused": False,
            "threads": self.ctx.threads,
        }
        if self._active:
            d["precision"] = self.precision_used()
            d["threads"] = int(self.compiled.get_property("INFERENCE_NUM_THREADS"))
            if d["precision"] != asked:
                d["note"] = f"asked for {asked}; the CPU plugin runs {d['precision']}"
        return d

    def intermediates(self, feeds: dict[str, np.ndarray]) -> list[Intermediate]:
        """Every ONNX node output, from a copy of the model with each one a graph output,
        compiled with the same precision (as ort-cpu's --locate does)."""
        from irisonnx.modelfile.graph import expose_all

        self.activate()
        proto, nodes = expose_all(self.ctx.model_info.proto_with_data())
        try:
            data = proto.SerializeToString()
        except ValueError:  # protobuf's 2 GiB limit: a model with large external weights
            raise NotImplementedError(f"{self.name}: --locate needs the model with its weights in one ONNX file under 2 GiB") from None
        compiled = self._compile(self._core, self._read(self._core, data))
        names = {n for port in compiled.inputs for n in port.get_names()}
        res = compiled.create_infer_request().infer({k: np.require(v, requirements="C") for k, v in feeds.items() if k in names})
        vals: dict[str, np.ndarray] = {}
        for i, port in enumerate(compiled.outputs):
            for n in port.get_names():
                vals.setdefault(n, np.asarray(res[i]))
        return [Intermediate(t, n.name, n.op_type, list(n.input), vals[t]) for n in nodes for t in n.output if t in vals]
