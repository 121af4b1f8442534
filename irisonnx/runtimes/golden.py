"""Outputs saved earlier with ``compare --save-io``, replayed as if a runtime produced them.

``golden:<name>`` replays the saved outputs of runtime ``<name>`` (default: the saved baseline),
so a device can be checked against a golden set produced elsewhere.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from irisonnx.errors import RuntimeUnavailable
from irisonnx.runtimes.base import Runtime

__all__ = ["GoldenRuntime"]


class GoldenRuntime(Runtime):
    kind = "golden"

    def is_available(self) -> tuple[bool, str]:
        if self.ctx.golden_dir is None:
            return False, "needs --load-io DIR"
        from irisonnx.golden import read_index

        idx = read_index(self.ctx.golden_dir)
        src = self.option or idx["baseline"]
        if src not in idx["runtimes"]:
            return False, f"{self.ctx.golden_dir} has no outputs of {src!r} (it has {', '.join(idx['runtimes'])})"
        return True, ""

    def _activate(self) -> None:
        from irisonnx.golden import load_outputs, read_index

        ok, why = self.is_available()
        if not ok:
            raise RuntimeUnavailable(f"{self.name} unavailable", why)
        idx = read_index(self.ctx.golden_dir)
        self.source = self.option or idx["baseline"]
        self.saved_info = idx["runtimes"][self.source]
        self.arrays = load_outputs(self.ctx.golden_dir, self.source)

    def _run(self, features: np.ndarray, start: int) -> dict[str, np.ndarray]:
        return {k: v[start : start + features.shape[0]] for k, v in self.arrays.items()}

    def info(self) -> dict[str, Any]:
        d = {"name": self.name, "kind": self.kind, "dir": str(self.ctx.golden_dir)}
        if self._active:
            d["recorded"] = self.saved_info
        return d
