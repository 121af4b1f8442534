"""``onnx.reference.ReferenceEvaluator``: pure numpy, the ONNX specification as oracle."""

from __future__ import annotations

from typing import Any

import numpy as np

from irisonnx.errors import RuntimeUnavailable, UsageError
from irisonnx.runtimes.base import Intermediate, Runtime

__all__ = ["ReferenceRuntime"]

_STANDARD_DOMAINS = {"", "ai.onnx", "ai.onnx.ml"}


class ReferenceRuntime(Runtime):
    kind = "reference"

    def _model(self) -> Any:
        if not hasattr(self, "_proto"):
            self._proto = self.ctx.model_info.proto_with_data()
        return self._proto

    def is_available(self) -> tuple[bool, str]:
        if self.ctx.model_info is None:
            return False, "needs an ONNX model"
        if self.option:
            raise UsageError(f"reference takes no option", f"got {self.option!r}", "options exist only for ort-cpu and ort-cuda (:O0..:O3, :tf32)")
        custom = sorted({n.domain for n in self._model().graph.node if n.domain not in _STANDARD_DOMAINS})
        if custom:
            return False, f"the ONNX reference evaluator implements only standard ONNX ops; this model uses domain(s) {', '.join(custom)} (e.g. com.microsoft contrib ops from onnxruntime's optimiser)"
        return True, ""

    def _activate(self) -> None:
        from onnx.reference import ReferenceEvaluator

        ok, why = self.is_available()
        if not ok:
            raise RuntimeUnavailable("reference unavailable", why)
        try:
            self.sess = ReferenceEvaluator(self._model())
        except Exception as exc:  # noqa: BLE001 - an op the evaluator lacks raises many types
            raise RuntimeUnavailable("reference unavailable", f"the ONNX reference evaluator cannot load this model: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}") from None
        self.outputs = [o.name for o in self._model().graph.output]

    def _run(self, feeds: dict[str, np.ndarray], start: int) -> dict[str, Any]:
        # The evaluator warns (divide by zero, overflow) where a runtime would just compute:
        # the statistics handle non-finite results, and stderr stays one line per error.
        with np.errstate(all="ignore"):
            res = self.sess.run(None, feeds)
        return {n: (np.asarray(v) if not isinstance(v, (list, dict)) else v) for n, v in zip(self.outputs, res)}

    def info(self) -> dict[str, Any]:
        import onnx

        return {"name": self.name, "kind": self.kind, "versions": {"onnx": onnx.__version__, "numpy": np.__version__}}

    def intermediates(self, feeds: dict[str, np.ndarray]) -> list[Intermediate]:
        from onnx.reference import ReferenceEvaluator

        from irisonnx.modelfile.graph import expose_all

        proto, nodes = expose_all(self._model())
        sess = ReferenceEvaluator(proto)
        names = [o.name for o in proto.graph.output]
        with np.errstate(all="ignore"):
            vals = dict(zip(names, sess.run(None, feeds)))
        return [Intermediate(t, n.name, n.op_type, list(n.input), np.asarray(vals[t])) for n in nodes for t in n.output if t in vals]
