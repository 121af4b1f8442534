"""onnxruntime-web (WASM backend, one thread) in headless Chromium.

Inputs go to the page as raw float32 (base64) and outputs come back as their raw bytes, so
they are compared bit for bit like any other runtime's. fp32 results are NOT bitwise equal to
onnxruntime CPU in Python: the WASM SIMD kernels sum in another order (measured on the Iris
model: max abs 1.2e-7 on logits, hundreds of ULP only where a logit is near zero). Compare
``web`` with the default atol/rtol, not ``--exact``.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from irisonnx.errors import RuntimeUnavailable, UsageError
from irisonnx.runtimes.base import Runtime

__all__ = ["WebRuntime"]

NOTE = "fp32 in WASM is not bitwise equal to ORT CPU (different summation order); use atol/rtol, not --exact"
NOTE_QUANTISED = "quantised model: integer matmuls are exact and the float ops around them elementwise, so WASM can match other runtimes bit for bit (the Iris int8 model does the ONNX reference evaluator's); --exact is a fair test"
# Operators that make a graph's matmuls integer arithmetic (onnxruntime's quantisation output).
_INTEGER_OPS = {"MatMulInteger", "ConvInteger", "QLinearMatMul", "QLinearConv", "DynamicQuantizeLinear", "MatMulIntegerToFloat", "DynamicQuantizeMatMul", "QGemm"}


class WebRuntime(Runtime):
    kind = "web"

    def is_available(self) -> tuple[bool, str]:
        if self.ctx.model_info is None:
            return False, "needs an ONNX model"
        if self.option:
            raise UsageError(f"web takes no option", f"got {self.option!r}", "options exist only for ort-cpu and ort-cuda (:O0..:O3, :tf32)")
        ins = self.ctx.model_info.inputs
        if len(ins) != 1 or ins[0].dtype != "float32" or len(ins[0].shape) != 2:
            return False, f"the browser runner feeds one float32 [rows, columns] input; this model takes {', '.join(i.describe() for i in ins)}"
        from irisonnx.browser.session import browser_available

        return browser_available()

    def _activate(self) -> None:
        from irisonnx.browser.session import BrowserSession, web_dir

        ok, why = self.is_available()
        if not ok:
            raise RuntimeUnavailable("web unavailable", why)
        self._tmp = tempfile.TemporaryDirectory(prefix="irisonnx-webrt-")
        try:
            root = Path(self._tmp.name)
            shutil.copyfile(web_dir() / "runner.html", root / "runner.html")
            (root / "model.onnx").write_bytes(self.ctx.model_info.data)
            self.session = BrowserSession(root, "runner.html?model=model.onnx").__enter__()
            try:
                self._info = self.session.info()
            except BaseException:
                self.session.close(check=False)
                raise
        except BaseException:  # a failed start or a signal while starting: no folder left behind
            self._tmp.cleanup()
            raise

    def _run(self, feeds: dict[str, np.ndarray], start: int) -> dict[str, np.ndarray]:
        (x,) = feeds.values()  # one float32 2-D input (is_available checks)
        return self.session.run(x)

    def _note(self) -> str:
        proto = getattr(self.ctx.model_info, "proto", None)
        ops = {n.op_type for n in proto.graph.node} if proto is not None else set()
        return NOTE_QUANTISED if ops & _INTEGER_OPS else NOTE

    def deactivate(self) -> None:
        if self._active:
            self._active = False  # once: a second call (a signal during this one) must not retry
            try:
                self.requests = self.session.requests()
                self.session.close(check=sys.exc_info()[0] is None)
            finally:
                self._tmp.cleanup()
        super().deactivate()

    def info(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "kind": self.kind, "backend": "wasm", "threads": 1, "note": self._note()}
        if self._active:
            d["versions"] = {"onnxruntime-web": self._info.get("info", {}).get("ortVersion", "unknown")}
            d["browser_requests"] = self._info.get("requests", [])
        return d
