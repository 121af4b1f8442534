"""The run's weights in eager PyTorch. torch is imported here, inside methods, never at the top."""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np

from irisonnx.errors import UsageError
from irisonnx.runtimes.base import Intermediate, Runtime

__all__ = ["TorchRuntime", "forward_arrays", "load_torch_model", "named_outputs", "torch_context"]


def torch_context(info: Any, run_dir: Any = None, module_spec: Any = None) -> Any:
    """A RuntimeContext for the torch module of a model: its ``--module`` (``FILE.py:FACTORY``
    or an nn.Module) or its run folder; for callers above the runtimes (edge variants made
    from the torch module) that must not reach the training floor themselves."""
    from irisonnx.runtimes.base import RuntimeContext

    ctx = RuntimeContext(model_path=info.path, model_info=info, output_names=list(info.output_names))
    if module_spec is not None:
        from irisonnx.training.module import parse_module_spec

        ctx.module = parse_module_spec(module_spec)
    elif run_dir is not None:
        from irisonnx.training.run import Run

        ctx.run = Run.open(run_dir)
    return ctx


def load_torch_model(ctx: Any) -> tuple[Any, list[str] | None, str]:
    """The torch module a context names, in eval mode: the user's ``--module`` (with forward's
    parameter names, the input names) or the run's MLP (names None: one input, whatever the
    ONNX file calls it), and a label saying which. For every runtime that runs the module or a
    program exported from it (torch, executorch): only this module reaches the training floor."""
    if ctx.module is not None:
        from irisonnx.training.module import forward_names

        model = ctx.module.load()
        return model, forward_names(model), f"--module {ctx.module.label}"
    return ctx.run.load_model(), None, f"the run's weights {ctx.run.weights_path}"


def forward_arrays(params: list[str] | None, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
    """The feeds as forward's positional arguments, in order. ``params`` None: the run's MLP,
    one input whatever the ONNX file calls it; else forward's parameter names, which must be
    the input names (exit 2 naming both otherwise). Shared by every runtime that runs the
    torch module or a program exported from it (torch, executorch)."""
    if params is None:
        (x,) = feeds.values()
        return [x]
    missing = [p for p in params if p not in feeds]
    if missing or len(feeds) > len(params):
        raise UsageError(f"the module's forward takes {', '.join(params)}", f"the inputs are named {', '.join(feeds)}", "name the ONNX inputs (and --inputs arrays) after forward's parameters")
    return [np.ascontiguousarray(feeds[p]) for p in params if p in feeds]


def named_outputs(res: Any, output_names: list[str], from_module: bool) -> dict[str, np.ndarray]:
    """A torch forward's result (tensors) by the ONNX model's output names.

    A user's module (``from_module``): its outputs flattened in order, named after the ONNX
    outputs (``output_K`` past them). The run's MLP returns logits: named "logits" or the
    ONNX file's first output, with "probabilities" (softmax) and "label" (argmax) added when
    the ONNX model has them."""
    import torch

    if from_module:
        from irisonnx.training.module import flatten_outputs

        outs = [t.detach().numpy() for t in flatten_outputs(res)]
        names = list(output_names)
        if len(names) < len(outs):
            names += [f"output_{i}" for i in range(len(names), len(outs))]
        return dict(zip(names, outs))
    logits = res[0] if isinstance(res, (list, tuple)) else res  # (batch, n_classes)
    out = {"logits": logits.detach().numpy()}
    wanted = output_names
    if "probabilities" in wanted:
        out["probabilities"] = torch.softmax(logits, dim=1).numpy()
    if "label" in wanted:
        out["label"] = logits.argmax(dim=1).numpy().astype(np.int64)
    if "logits" not in wanted and wanted:
        out[wanted[0]] = out.pop("logits")  # the ONNX file's name for it
    return out


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
        self.model, self._params, _ = load_torch_model(self.ctx)
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
        return [self._torch.from_numpy(a) for a in forward_arrays(self._params, feeds)]

    def _run(self, feeds: dict[str, np.ndarray], start: int) -> dict[str, np.ndarray]:
        torch = self._torch
        with torch.inference_mode():
            res = self.model(*self._args(feeds))
        return named_outputs(res, self.ctx.output_names, from_module=self._params is not None)

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
