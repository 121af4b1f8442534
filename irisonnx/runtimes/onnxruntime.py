"""onnxruntime with an explicit provider; records the providers that actually ran.

Options after the colon set the graph optimisation level: ``O0`` (off), ``O1`` (basic),
``O2`` (extended), ``O3`` (all, onnxruntime's default). ``ort-cuda:tf32`` allows TF32.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from irisonnx.errors import RuntimeUnavailable, UsageError
from irisonnx.runtimes.base import Intermediate, Runtime

__all__ = ["OrtCpuRuntime", "OrtCudaRuntime"]

_LEVELS = {"O0": "disable", "O1": "basic", "O2": "extended", "O3": "all"}


class _OrtRuntime(Runtime):
    provider = "cpu"

    def _settings(self) -> dict[str, Any]:
        opts = [o for o in self.option.split(",") if o]
        level, tf32 = "all", False
        for o in opts:
            if o in _LEVELS:
                level = _LEVELS[o]
            elif o == "tf32" and self.provider == "cuda":
                tf32 = True
            else:
                raise UsageError(f"unknown option {o!r} for {self.kind}", f"use one of {', '.join(_LEVELS)}" + (" or tf32" if self.provider == "cuda" else ""))
        return {"graph_optimization": level, "allow_tf32": tf32}

    def is_available(self) -> tuple[bool, str]:
        if self.ctx.model_info is None:
            return False, "needs an ONNX model"
        self._settings()
        if self.provider == "cuda":
            from irisonnx.runtimes.ort_engine import cuda_available

            return cuda_available()
        return True, ""

    def _make(self, info: Any) -> Any:
        from irisonnx.runtimes.ort_engine import Predictor

        return Predictor(info, provider=self.provider, threads=self.ctx.threads, **self._settings())

    def _activate(self) -> None:
        ok, why = self.is_available()
        if not ok:
            raise RuntimeUnavailable(f"{self.name} unavailable", why)
        self.predictor = self._make(self.ctx.model_info)

    def _run(self, feeds: dict[str, np.ndarray], start: int) -> dict[str, Any]:
        # compare checks its inputs once; the predictor's per-call check would repeat it per chunk.
        # A classifier takes the Predictor's I/O-binding fast path, any other model session.run.
        return self.predictor.run_feeds(feeds)

    def info(self) -> dict[str, Any]:
        import onnxruntime as ort

        d = {"name": self.name, "kind": self.kind, "model": str(self.ctx.model_path) if self.ctx.model_path else None, "versions": {"onnxruntime": ort.__version__}, "threads": self.ctx.threads, **self._settings()}
        if self._active:
            d["providers"] = self.predictor.providers
        return d

    def intermediates(self, feeds: dict[str, np.ndarray]) -> list[Intermediate]:
        import dataclasses

        from irisonnx.modelfile.graph import expose_all

        info = self.ctx.model_info
        proto, nodes = expose_all(info.proto_with_data())
        # Same provider rules as the real run, on a copy whose every node output is a graph output.
        # The exposed copy is no classifier (every node output is an output): the general path.
        exposed = dataclasses.replace(info, data=proto.SerializeToString(), proto=proto, has_external_data=False, outputs=[], n_features=None, n_classes=None)
        pred = self._make(exposed)
        names = [o.name for o in pred.session.get_outputs()]
        vals = dict(zip(names, pred.session.run(None, feeds)))
        return [Intermediate(t, n.name, n.op_type, list(n.input), np.asarray(vals[t])) for n in nodes for t in n.output if t in vals]


class OrtCpuRuntime(_OrtRuntime):
    kind = "ort-cpu"
    provider = "cpu"


class OrtCudaRuntime(_OrtRuntime):
    kind = "ort-cuda"
    provider = "cuda"
