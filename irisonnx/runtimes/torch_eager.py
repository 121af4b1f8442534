"""The run's weights in eager PyTorch. torch is imported here, inside methods, never at the top."""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np

from irisonnx.errors import UsageError
from irisonnx.runtimes.base import Intermediate, Runtime

__all__ = ["TorchRuntime"]


class TorchRuntime(Runtime):
    kind = "torch"

    def is_available(self) -> tuple[bool, str]:
        if importlib.util.find_spec("torch") is None:
            return False, "torch is not installed"
        if self.ctx.run is None:
            return False, "needs a run folder (the torch weights), not just an .onnx file"
        if self.option:
            raise UsageError(f"torch takes no option", f"got {self.option!r}", "options exist only for ort-cpu and ort-cuda (:O0..:O3, :tf32)")
        return True, ""

    def _activate(self) -> None:
        import torch

        self._torch = torch
        self.model = self.ctx.run.load_model()
        # One intra-op thread unless told otherwise (bench --threads), as train does: an MLP this
        # small gains nothing from splitting a chunk, and torch's OpenMP workers spin between
        # calls, taking the cores from the runtime that runs next (compare alternates runtimes
        # chunk by chunk). Measured on 2 busy cores: torch 65536-row chunks 58 ms per 1M rows
        # with 1 thread against 138-240 ms with 2; torch + ort-cpu alternating 199 against 339-483.
        self._saved_threads = torch.get_num_threads()
        torch.set_num_threads(self.ctx.threads or 1)

    def deactivate(self) -> None:
        if self._active and getattr(self, "_saved_threads", None):
            self._torch.set_num_threads(self._saved_threads)
        super().deactivate()

    def _run(self, features: np.ndarray, start: int) -> dict[str, np.ndarray]:
        torch = self._torch
        with torch.inference_mode():
            logits = self.model(torch.from_numpy(features))  # (batch, n_classes)
            out = {"logits": logits.numpy()}
            wanted = self.ctx.output_names
            if "probabilities" in wanted:
                out["probabilities"] = torch.softmax(logits, dim=1).numpy()
            if "label" in wanted:
                out["label"] = logits.argmax(dim=1).numpy().astype(np.int64)
        return out

    def info(self) -> dict[str, Any]:
        import torch

        return {"name": self.name, "kind": self.kind, "versions": {"torch": torch.__version__}, "threads": torch.get_num_threads(), "device": "cpu"}

    def intermediates(self, features: np.ndarray) -> list[Intermediate]:
        """Each leaf module's output, caught with forward hooks, in execution order."""
        torch = self._torch if hasattr(self, "_torch") else __import__("torch")
        self.activate()
        caught: list[Intermediate] = []
        hooks = []
        for name, mod in self.model.named_modules():
            if list(mod.children()):
                continue

            def hook(m: Any, inp: Any, out: Any, name: str = name) -> None:
                caught.append(Intermediate(name, name, type(m).__name__, [], out.detach().numpy().copy()))

            hooks.append(mod.register_forward_hook(hook))
        try:
            with torch.inference_mode():
                self.model(torch.from_numpy(features))
        finally:
            for h in hooks:
                h.remove()
        return caught
