"""ExecuTorch, PyTorch's on-device runtime: the torch module exported to a ``.pte`` and run
by ExecuTorch's C++ runtime from Python, through the XNNPACK CPU delegate (``executorch``) or
the portable kernels alone (``executorch:portable``).

ExecuTorch cannot read ONNX: it needs the torch module (a run folder's weights, or
``--module FILE.py:FACTORY``). The module goes through ``torch.export`` with the batch
dimension dynamic up to a declared maximum (:data:`MAX_BATCH`; ExecuTorch sizes its memory
for that maximum, and an unbounded dynamic batch failed on a CNN with XNNPACK at batch >= 16),
then ``to_edge_transform_and_lower`` (with the XNNPACK partitioner unless ``:portable``), then
``to_executorch``. The ``.pte`` is a conversion artifact (:mod:`irisonnx.runtimes.conversion`):
its source is the module's weights digest (:func:`~irisonnx.runtimes.conversion.module_digest`)
with the backend, the maximum batch, the input signature and torch's version as options, so a
second compare reuses it and changed weights convert again.

Rows are cut into chunks of the program's planned capacity, read back from the loaded
method's metadata rather than assumed. With executorch 1.5.1, XNNPACK's convolution planned
only 15 rows (whatever maximum was declared) when the export example had fewer than 16 rows:
batches of 16 and more then failed to load their inputs, the failure the issue measured.
The example therefore has :data:`EXAMPLE_BATCH` (16) rows. A module that ``torch.export``
cannot keep dynamic in the batch falls back to a fixed batch of that size, the last chunk
padded by repeating its last row and the padding dropped from the outputs.

An op that ExecuTorch lacks (outside the core ATen op set, or a kernel missing from the
runtime) raises :class:`~irisonnx.runtimes.conversion.RuntimeUnsupported` naming it: compare
skips this runtime and compares the others. What torch, the exporter and ExecuTorch's native
code print while converting and loading is kept off stderr (shown only inside an error).

executorch and torch are imported inside methods only: importing ExecuTorch takes seconds.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from irisonnx.errors import UsageError
from irisonnx.runtimes.base import Intermediate, Runtime

__all__ = ["ExecuTorchRuntime", "MAX_BATCH", "EXAMPLE_BATCH", "OTHER_DIM_MAX", "unsupported_op"]

MAX_BATCH = 64  # the declared maximum of the dynamic batch (memory is planned for it)
EXAMPLE_BATCH = 16  # rows in the export example; also the fixed batch when the batch cannot stay dynamic
OTHER_DIM_MAX = 256  # the bound of any other symbolic dimension (a sequence length, say)
_OPTIONS = {"": "xnnpack", "xnnpack": "xnnpack", "portable": "portable"}
_INSTALL = "pip install 'irisonnx[executorch]'"


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "unknown"


@contextlib.contextmanager
def _quiet() -> Iterator[list[str]]:
    """Keep what the exporter and ExecuTorch print off stderr: Python warnings, torch's loggers,
    ``sys.stderr`` (ExecuTorch's pybindings print their log there) and file descriptor 2 (native
    code writing directly). What was printed is appended to the yielded list when the block
    ends (for error messages)."""
    import io
    import logging
    import warnings

    loggers = [logging.getLogger(n) for n in ("torch", "executorch", "torchao")]
    levels = [lg.level for lg in loggers]
    captured: list[str] = []
    py_err = io.StringIO()
    try:
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass
    saved = os.dup(2)
    with tempfile.TemporaryFile() as f:
        os.dup2(f.fileno(), 2)
        try:
            for lg in loggers:
                lg.setLevel(logging.CRITICAL)
            with warnings.catch_warnings(), contextlib.redirect_stderr(py_err):
                warnings.simplefilter("ignore")
                yield captured
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            for lg, lv in zip(loggers, levels):
                lg.setLevel(lv)
            f.seek(0)
            captured.append(py_err.getvalue() + f.read().decode("utf-8", "replace"))


def _pybindings() -> Any:
    """ExecuTorch's C++ runtime bindings. ``executorch.runtime.Runtime.load_program`` (the
    documented API) calls ``_load_program`` of ``executorch.extension.pybindings.portable_lib``,
    which re-exports the ``_C`` extension; importing portable_lib pulls in the whole exporter
    (``executorch.exir``: 5-7 s here) for one warning class. Running an existing ``.pte`` needs
    only the extension, imported after torch (it links libtorch, as portable_lib says); the
    public module is the fallback should the extension move."""
    import torch  # noqa: F401  (loads libtorch for the extension)

    try:
        from executorch.extension.pybindings import _C as lib

        lib._load_program  # noqa: B018 - the entry point this runtime uses
    except (ImportError, AttributeError):
        from executorch.extension.pybindings import portable_lib as lib
    return lib


_CORE_ATEN = re.compile(r"Operator torch\._ops\.(\S+?) is not in Core ATen opset")
_NO_KERNEL = re.compile(r"(?:kernel|operator)\s+'?([\w:.]+)'?\s+(?:not found|is not registered)", re.I)
_MISSING_OP = re.compile(r"[Mm]issing (?:out )?(?:operator|kernel)[:\s]+'?\[?([\w:.]+)")


def unsupported_op(text: str) -> str | None:
    """The op an ExecuTorch failure names, from the exception text or the runtime's log."""
    for pat in (_CORE_ATEN, _NO_KERNEL, _MISSING_OP):
        m = pat.search(text)
        if m:
            return m.group(1)
    return None


def _first_line(exc: BaseException) -> str:
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    return f"{type(exc).__name__}: {lines[0] if lines else ''}".rstrip(": ")


class ExecuTorchRuntime(Runtime):
    kind = "executorch"
    _saved_threads: int | None = None  # the threadpool's size before bench --threads changed it

    def is_available(self) -> tuple[bool, str]:
        if self.option not in _OPTIONS:
            raise UsageError(f"unknown executorch option {self.option!r}", "choose executorch (XNNPACK delegate) or executorch:portable (no delegate)")
        for pkg in ("executorch", "torch"):
            try:
                found = importlib.util.find_spec(pkg) is not None
            except (ImportError, ValueError):
                found = False
            if not found:
                return False, f"{pkg} is not installed: {_INSTALL}"
        if self.ctx.run is None and self.ctx.module is None:
            return False, "needs the torch module: a run folder or --module FILE.py:FACTORY (ExecuTorch cannot read ONNX)"
        return True, ""

    @property
    def backend(self) -> str:
        return _OPTIONS.get(self.option, "xnnpack")

    @property
    def route(self) -> str:
        return "torch.export + XNNPACK" if self.backend == "xnnpack" else "torch.export (portable)"

    # -- set-up ---------------------------------------------------------------------------
    def _signature(self) -> Any:
        from irisonnx.signature import Signature, TensorSpec

        info = self.ctx.model_info
        if info is not None:
            return info.signature
        n_f = len(self.ctx.run.config["data"]["feature_names"])
        return Signature((TensorSpec("features", "float32", ("batch", n_f)),), (TensorSpec("logits", "float32", ("batch", None)),))

    def _activate(self) -> None:
        import torch

        self._torch = torch
        self.conversion = None
        self._static: int | None = None  # the fixed batch, when torch.export could not keep it dynamic
        if self.ctx.module is not None:
            from irisonnx.module import forward_names

            model = self.ctx.module.load()
            self._params: list[str] | None = forward_names(model)
            source = f"--module {self.ctx.module.label}"
        else:
            model = self.ctx.run.load_model()
            self._params = None
            source = f"the run's weights {self.ctx.run.weights_path}"
        sig = self._signature()
        tensors = [i for i in sig.inputs if i.is_tensor]
        if len(tensors) != len(sig.inputs):
            raise UsageError("executorch takes tensor inputs only", ", ".join(i.describe() for i in sig.inputs if not i.is_tensor))
        if self._params is not None:  # the module's forward names its inputs: the same names as the model's
            specs = {s.name: s for s in tensors}
            forward_order = [p for p in self._params if p in specs]
            if len(forward_order) != len(specs):
                raise UsageError(f"the module's forward takes {', '.join(self._params)}", f"the inputs are named {', '.join(specs)}", "name the ONNX inputs (and --inputs arrays) after forward's parameters")
            tensors = [specs[p] for p in forward_order]
        self._specs = tensors
        self._batched = sig.batched()
        from irisonnx.runtimes.conversion import convert, module_digest

        options = {
            "backend": self.backend,
            "max_batch": MAX_BATCH if self._batched else None,
            "inputs": [s.describe() for s in tensors],
            "torch": torch.__version__,
        }
        conv = convert(
            self.ctx,
            "executorch" if self.backend == "xnnpack" else "executorch-portable",
            ".pte",
            source=source,
            source_sha256=module_digest(model, extra=self._code_digest(model)),
            converter="executorch",
            converter_version=_version("executorch"),
            make=lambda path: self._export(model, path),
            options=options,
        )
        self.conversion = conv
        self._load(conv.path)

    def _code_digest(self, model: Any) -> str:
        """What the weights digest misses: the forward's code. A --module file's bytes; the run's
        MLP config (its activation is no weight) and irisonnx's version; an nn.Module handed
        over by the API, its class's source where Python can find it."""
        import dataclasses
        import hashlib
        import inspect
        import json

        spec = self.ctx.module
        if spec is not None and getattr(spec, "path", None) is not None:
            return hashlib.sha256(Path(spec.path).read_bytes()).hexdigest()
        if spec is not None:
            try:
                return hashlib.sha256(inspect.getsource(type(model)).encode()).hexdigest()
            except (OSError, TypeError):
                return "source unavailable"
        from irisonnx import __version__

        return json.dumps({"model": dataclasses.asdict(self.ctx.run.model_config), "irisonnx": __version__}, sort_keys=True, default=str)

    def _example(self, batch: int) -> list[Any]:
        """Example inputs for torch.export: the signature's shapes (batch ``batch``, other
        symbolic dims 4), zeros (valid ids for an embedding, a mask with nothing masked)."""
        from irisonnx.signature import numpy_dtype

        torch = self._torch
        out = []
        for s in self._specs:
            shape = [d if isinstance(d, int) else (batch if i == 0 and self._batched else 4) for i, d in enumerate(s.shape)]
            out.append(torch.from_numpy(np.zeros(shape, dtype=numpy_dtype(s))))
        return out

    def _dynamic_shapes(self, dynamic_batch: bool) -> tuple[dict[int, Any], ...]:
        from torch.export import Dim

        shapes = []
        for s in self._specs:
            dims: dict[int, Any] = {}
            for i, d in enumerate(s.shape):
                if isinstance(d, int):
                    continue
                if i == 0 and self._batched:
                    if dynamic_batch:
                        dims[0] = Dim.AUTO(min=1, max=MAX_BATCH)
                else:
                    dims[i] = Dim.AUTO(min=1, max=OTHER_DIM_MAX)
            shapes.append(dims)
        return tuple(shapes)

    def _export(self, model: Any, path: Path) -> dict[str, Any]:
        """torch.export -> edge (XNNPACK or portable) -> .pte at ``path``; returns whether the
        batch stayed dynamic (kept in the sidecar). An op ExecuTorch lacks is RuntimeUnsupported
        naming it."""
        from irisonnx.runtimes.conversion import RuntimeUnsupported

        torch = self._torch
        err: BaseException | None = None
        with _quiet() as log:
            try:
                from torch.export import export

                from executorch.exir import to_edge_transform_and_lower

                partitioners = []
                if self.backend == "xnnpack":
                    from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner

                    partitioners = [XnnpackPartitioner()]
                example = tuple(self._example(EXAMPLE_BATCH))
                with torch.no_grad():
                    try:
                        ep = export(model, example, dynamic_shapes=self._dynamic_shapes(True), strict=False)
                    except Exception:  # noqa: BLE001 - a batch torch.export cannot keep dynamic: fixed, padded
                        if not self._batched:
                            raise
                        ep = export(model, example, dynamic_shapes=self._dynamic_shapes(False), strict=False)
                    from torch.fx.experimental.symbolic_shapes import is_concrete_int

                    # Dim.AUTO lets torch.export fix the batch (a guard like ``x.shape[0] == 16``):
                    # the placeholders then hold a constant where the batch was.
                    vals = [n.meta.get("val") for n in ep.graph.nodes if n.op == "placeholder" and n.name in set(ep.graph_signature.user_inputs)]
                    dynamic = self._batched and bool(vals) and all(v is not None and len(v.shape) and not is_concrete_int(v.shape[0]) for v in vals)
                    program = to_edge_transform_and_lower(ep, partitioner=partitioners).to_executorch()
                path.write_bytes(program.buffer)
            except OSError:
                raise
            except Exception as exc:  # noqa: BLE001 - the exporter raises many kinds; each means "cannot convert"
                err = exc
        if err is None:
            return {"batch": ("dynamic" if dynamic else "fixed") if self._batched else "as the signature", "example_batch": EXAMPLE_BATCH, "max_batch": MAX_BATCH}
        text = f"{err}\n{''.join(log)}"
        op = unsupported_op(text)
        why = f"unsupported: {op} (not in ExecuTorch's op set)" if op else f"unsupported: {_first_line(err)}"
        raise RuntimeUnsupported(f"executorch cannot convert {self._source_label()}", why) from None

    def _source_label(self) -> str:
        return self.ctx.module.label if self.ctx.module is not None else "the run's model"

    def _load(self, path: Path) -> None:
        from irisonnx.runtimes.conversion import RuntimeUnsupported

        with _quiet() as log:
            try:
                lib = _pybindings()
                self._lib = lib
                if self.ctx.threads and self._saved_threads is None:
                    self._saved_threads = lib._threadpool_get_thread_count()
                    lib._unsafe_reset_threadpool(int(self.ctx.threads))
                self._program = lib._load_program(str(path), program_verification=lib.Verification.InternalConsistency)
                self._method = self._program.load_method("forward")
                meta = self._method.method_meta()
                planned = [tuple(meta.input_tensor_meta(i).sizes()) for i in range(meta.num_inputs())]
            except Exception as exc:  # noqa: BLE001
                err = exc
            else:
                err = None
        if err is not None:
            text = f"{err}\n{''.join(log)}"
            op = unsupported_op(text)
            why = f"unsupported: {op} (no kernel in this ExecuTorch runtime)" if op else f"cannot load {path.name}: {_first_line(err)}"
            raise RuntimeUnsupported(f"executorch cannot run {self._source_label()}", why)
        self._planned = planned
        # Rows per call: what the program planned for. A bounded dynamic batch may plan fewer
        # rows than declared (XNNPACK's convolution does); a fixed batch is padded up to its size.
        if self._batched:
            self._chunk = min(p[0] for p in planned) if planned and all(planned) else 1
            details = (self.conversion.sidecar.get("details") or {}) if self.conversion is not None else {}
            self._static = None if details.get("batch") == "dynamic" else self._chunk
        else:
            self._chunk = None

    def deactivate(self) -> None:
        """The process-wide threadpool back to its size (bench --threads changed it)."""
        if self._saved_threads is not None and getattr(self, "_lib", None) is not None:
            self._lib._unsafe_reset_threadpool(self._saved_threads)
            self._saved_threads = None
        super().deactivate()

    # -- running --------------------------------------------------------------------------
    def _call(self, arrays: list[np.ndarray]) -> list[Any]:
        torch = self._torch
        return self._method([torch.from_numpy(a) for a in arrays])

    def _run(self, feeds: dict[str, np.ndarray], start: int) -> dict[str, np.ndarray]:
        from irisonnx.runtimes.torch_eager import forward_arrays, named_outputs

        arrays = [np.ascontiguousarray(a) for a in forward_arrays(self._params, feeds)]
        for a, s in zip(arrays, self._specs):
            for i, d in enumerate(a.shape):
                if 0 < i < len(s.shape) and not isinstance(s.shape[i], int) and d > OTHER_DIM_MAX:
                    raise UsageError(f"executorch: input {s.name!r} has {d} in dimension {i}", f"the program was exported for at most {OTHER_DIM_MAX} there", f"compare at most {OTHER_DIM_MAX} (--dim)")
        if not self._batched:
            outs = [t.numpy() for t in self._call(arrays)]
        else:
            n = arrays[0].shape[0]
            step = self._chunk or n
            parts: list[list[np.ndarray]] = []
            for lo in range(0, max(n, 1), step):
                chunk = [a[lo : lo + step] for a in arrays]
                rows = chunk[0].shape[0]
                if self._static and rows < self._static:  # a fixed batch: pad with the last row, drop it after
                    chunk = [np.ascontiguousarray(np.concatenate([c, np.repeat(c[-1:], self._static - rows, axis=0)])) for c in chunk]
                res = [t.numpy() for t in self._call([np.ascontiguousarray(c) for c in chunk])]
                parts.append([r[:rows] if self._static and r.ndim and r.shape[0] == self._static else r for r in res])
            outs = [np.concatenate(p) if len(parts) > 1 else p[0] for p in zip(*parts)]
        torch = self._torch
        return named_outputs([torch.from_numpy(o) for o in outs], self.ctx.output_names, from_module=self._params is not None)

    # -- description ----------------------------------------------------------------------
    def threads_used(self, asked: int | None) -> str:
        """For bench: ExecuTorch's threadpool (XNNPACK's workers; most portable kernels run on
        the calling thread alone)."""
        n = self._lib._threadpool_get_thread_count() if getattr(self, "_lib", None) is not None else "?"
        who = "XNNPACK" if self.backend == "xnnpack" else "the kernels that use it; most portable ones run on the calling thread"
        return f"{n} (ExecuTorch threadpool, for {who}{'' if asked else '; default: the cores'})"

    def info(self) -> dict[str, Any]:
        conv = getattr(self, "conversion", None)
        d: dict[str, Any] = {
            "name": self.name,
            "kind": self.kind,
            "versions": {"executorch": _version("executorch"), "torch": _version("torch")},
            "precision": "f32",
            "route": self.route,
            "conversion": str(conv.path.with_name(conv.path.name + ".json")) if conv is not None else None,
            "reused": bool(conv.reused) if conv is not None else False,
            "device": "cpu",
        }
        if getattr(self, "_lib", None) is not None:
            d["threads"] = self._lib._threadpool_get_thread_count()
        if self._active and getattr(self, "_batched", False):
            d["max_batch"] = self._chunk
            d["batch"] = f"fixed {self._static}, padded" if self._static else f"dynamic, up to {self._chunk} rows a call (declared {MAX_BATCH})"
        if conv is not None and conv.notes:
            d["notes"] = list(conv.notes)
        return d

    def intermediates(self, feeds: dict[str, np.ndarray]) -> list[Intermediate]:
        raise NotImplementedError(f"{self.name} runs a compiled .pte program: it cannot expose intermediate tensors (compare torch against ort-cpu with --locate to find the diverging node)")
