"""Outputs saved earlier, replayed as if a runtime produced them.

``golden:<name>`` replays the saved outputs of runtime ``<name>`` (default: the set's
baseline), so a device can be checked against a golden set produced elsewhere: an irisonnx
``--save-io`` folder, ONNX test data (its expected outputs, named ``expected``) or Polygraphy's
saved outputs (one name per Polygraphy runner). See :mod:`irisonnx.data.golden`.
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
        g = self.ctx.golden
        if g is None:
            return False, "needs --load-io DIR"
        src = self.option or g.baseline
        if src not in g.outputs:
            return False, f"{g.source} has no outputs of {src!r} (it has {', '.join(g.outputs)})"
        return True, ""

    def _activate(self) -> None:
        ok, why = self.is_available()
        if not ok:
            raise RuntimeUnavailable(f"{self.name} unavailable", why)
        g = self.ctx.golden
        self.source = self.option or g.baseline
        self.saved_info = g.infos.get(self.source, {})
        self.samples = g.outputs[self.source]
        self.batched = g.batched

    def _run(self, feeds: dict[str, np.ndarray], start: int) -> dict[str, Any]:
        if not self.batched:
            return dict(self.samples[start])  # start is the sample's index
        rows = next(iter(feeds.values())).shape[0] if feeds else 0
        return {k: v[start : start + rows] for k, v in self.samples[0].items()}

    def info(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "kind": self.kind, "dir": self.ctx.golden.source if self.ctx.golden else None}
        if self._active:
            d["recorded"] = self.saved_info
        return d
