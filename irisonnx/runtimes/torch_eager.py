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
        if self.ctx.run is None and self.ctx.module is None:
            return False, "needs a run folder (the torch weights) or --module FILE.py:FACTORY, not just an .onnx file"
        if self.option:
            raise UsageError(f"torch takes no option", f"got {self.option!r}", "options exist only for ort-cpu and ort-cuda (:O0..:O3, :tf32)")
        return True, ""

    def _activate(self) -> None:
        import torch

        self._torch = torch
        if self.ctx.module is not None:
            from irisonnx.training.module import forward_names

            self.model = self.ctx.module.load()
            self._params = forward_names(self.model)
        else:
            self.model = self.ctx.run.load_model()
            self._params = None
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

    def _args(self, feeds: dict[str, np.ndarray]) -> list[Any]:
        torch = self._torch
        if self._params is None:  # the run's MLP: one input, whatever the ONNX file calls it
            (x,) = feeds.values()
            return [torch.from_numpy(x)]
        missing = [p for p in self._params if p not in feeds]
        if missing or len(feeds) > len(self._params):
            raise UsageError(f"the module's forward takes {', '.join(self._params)}", f"the inputs are named {', '.join(feeds)}", "name the ONNX inputs (and --inputs arrays) after forward's parameters")
        return [torch.from_numpy(np.ascontiguousarray(feeds[p])) for p in self._params if p in feeds]

    def _run(self, feeds: dict[str, np.ndarray], start: int) -> dict[str, np.ndarray]:
        torch = self._torch
        with torch.inference_mode():
            res = self.model(*self._args(feeds))
        if self._params is not None:
            from irisonnx.training.module import flatten_outputs

            outs = [t.detach().numpy() for t in flatten_outputs(res)]
            names = list(self.ctx.output_names)
            if len(names) < len(outs):
                names += [f"output_{i}" for i in range(len(names), len(outs))]
            return dict(zip(names, outs))
        logits = res  # (batch, n_classes)
        out = {"logits": logits.numpy()}
        wanted = self.ctx.output_names
        if "probabilities" in wanted:
            out["probabilities"] = torch.softmax(logits, dim=1).numpy()
        if "label" in wanted:
            out["label"] = logits.argmax(dim=1).numpy().astype(np.int64)
        if "logits" not in wanted and wanted:
            out[wanted[0]] = out.pop("logits")  # the ONNX file's name for it
        return out

    def info(self) -> dict[str, Any]:
        import torch

        return {"name": self.name, "kind": self.kind, "versions": {"torch": torch.__version__}, "threads": torch.get_num_threads(), "device": "cpu"}

    def intermediates(self, feeds: dict[str, np.ndarray]) -> list[Intermediate]:
        """Each leaf module's output, caught with forward hooks, in execution order."""
        torch = self._torch if hasattr(self, "_torch") else __import__("torch")
        self.activate()
        caught: list[Intermediate] = []
        hooks = []
        for name, mod in self.model.named_modules():
            if list(mod.children()):
                continue

            def hook(m: Any, inp: Any, out: Any, name: str = name) -> None:
                if isinstance(out, torch.Tensor):
                    caught.append(Intermediate(name, name, type(m).__name__, [], out.detach().numpy().copy()))

            hooks.append(mod.register_forward_hook(hook))
        try:
            with torch.inference_mode():
                self.model(*self._args(feeds))
        finally:
            for h in hooks:
                h.remove()
        return caught
