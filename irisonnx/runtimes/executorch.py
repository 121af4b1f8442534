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

The pieces are module functions so that the edge variants (``executorch-fp32``,
``executorch-int8``) export and run the same way: :func:`input_specs`, :func:`export_pte`
(optionally PT2E-quantised with the XNNPACK quantizer) and :class:`PteProgram`.

executorch and torch are imported inside functions only: importing ExecuTorch takes seconds.
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

__all__ = ["ExecuTorchRuntime", "PteProgram", "export_pte", "input_specs", "MAX_BATCH", "EXAMPLE_BATCH", "OTHER_DIM_MAX", "unsupported_op"]

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


def input_specs(sig: Any, params: list[str] | None) -> list[Any]:
    """The signature's inputs in forward's order (``params``: forward's parameter names, or
    None for the run's MLP and its one input). Exit 2 when they are not tensors or do not match
    forward's names."""
    tensors = [i for i in sig.inputs if i.is_tensor]
    if len(tensors) != len(sig.inputs):
        raise UsageError("executorch takes tensor inputs only", ", ".join(i.describe() for i in sig.inputs if not i.is_tensor))
    if params is None:
        return tensors
    by_name = {s.name: s for s in tensors}
    order = [p for p in params if p in by_name]
    if len(order) != len(by_name):
        raise UsageError(f"the module's forward takes {', '.join(params)}", f"the inputs are named {', '.join(by_name)}", "name the ONNX inputs (and --inputs arrays) after forward's parameters")
    return [by_name[p] for p in order]


def _example(specs: list[Any], batched: bool, batch: int) -> tuple[Any, ...]:
    """Example inputs for torch.export: the signature's shapes (batch ``batch``, other symbolic
    dims 4), zeros (valid ids for an embedding, a mask with nothing masked)."""
    import torch

    from irisonnx.modelfile.signature import numpy_dtype

    out = []
    for s in specs:
        shape = [d if isinstance(d, int) else (batch if i == 0 and batched else 4) for i, d in enumerate(s.shape)]
        out.append(torch.from_numpy(np.zeros(shape, dtype=numpy_dtype(s))))
    return tuple(out)


def _dynamic_shapes(specs: list[Any], batched: bool, dynamic_batch: bool) -> tuple[dict[int, Any], ...]:
    from torch.export import Dim

    shapes = []
    for s in specs:
        dims: dict[int, Any] = {}
        for i, d in enumerate(s.shape):
            if isinstance(d, int):
                continue
            if i == 0 and batched:
                if dynamic_batch:
                    dims[0] = Dim.AUTO(min=1, max=MAX_BATCH)
            else:
                dims[i] = Dim.AUTO(min=1, max=OTHER_DIM_MAX)
        shapes.append(dims)
    return tuple(shapes)


def _calibration_args(specs: list[Any], batched: bool, calibration: Any) -> list[tuple[Any, ...]]:
    """Calibration calls as forward's arguments: rows of the one input (an array, cut into
    calls of at most MAX_BATCH rows) or a list of feeds by input name."""
    import torch

    if isinstance(calibration, np.ndarray):
        if len(specs) != 1:
            raise UsageError("calibration rows fit a model with one input", f"this one takes {', '.join(s.name for s in specs)}")
        step = MAX_BATCH if batched else len(calibration)
        return [(torch.from_numpy(np.ascontiguousarray(calibration[i : i + step], dtype=np.float32)),) for i in range(0, len(calibration), max(step, 1))]
    calls = []
    for feeds in calibration:
        arrays = [np.ascontiguousarray(feeds[s.name]) for s in specs]
        n = arrays[0].shape[0] if batched and arrays[0].ndim else 1
        step = MAX_BATCH if batched else n
        for i in range(0, max(n, 1), max(step, 1)):
            calls.append(tuple(torch.from_numpy(np.ascontiguousarray(a[i : i + step] if batched else a)) for a in arrays))
    return calls


def export_pte(model: Any, specs: list[Any], batched: bool, path: Path, *, backend: str = "xnnpack", calibration: Any = None, label: str = "the model") -> dict[str, Any]:
    """``model`` through torch.export (the batch dynamic up to MAX_BATCH where ``batched``, else
    fixed at EXAMPLE_BATCH when torch.export cannot keep it), optionally PT2E-quantised to int8
    with the XNNPACK quantizer and calibrated on ``calibration`` (see :func:`_calibration_args`),
    lowered to XNNPACK (``backend="xnnpack"``) or the portable kernels, written to ``path``.

    Returns what was decided (kept beside the program: :class:`PteProgram` needs ``batch``).
    An op ExecuTorch lacks raises RuntimeUnsupported("... unsupported: OP")."""
    import torch

    from irisonnx.runtimes.conversion import RuntimeUnsupported

    if calibration is not None and backend != "xnnpack":
        raise UsageError("int8 ExecuTorch programs need the XNNPACK backend", f"got {backend}")
    err: BaseException | None = None
    dynamic = False
    with _quiet() as log:
        try:
            from torch.export import export
            from torch.fx.experimental.symbolic_shapes import is_concrete_int

            from executorch.exir import to_edge_transform_and_lower

            partitioners = []
            if backend == "xnnpack":
                from executorch.backends.xnnpack.partition.xnnpack_partitioner import XnnpackPartitioner

                partitioners = [XnnpackPartitioner()]
            example = _example(specs, batched, EXAMPLE_BATCH)
            with torch.no_grad():
                shapes = _dynamic_shapes(specs, batched, True)
                try:
                    ep = export(model, example, dynamic_shapes=shapes, strict=False)
                except Exception:  # noqa: BLE001 - a batch torch.export cannot keep dynamic: fixed, padded
                    if not batched:
                        raise
                    shapes = _dynamic_shapes(specs, batched, False)
                    ep = export(model, example, dynamic_shapes=shapes, strict=False)
                # Dim.AUTO lets torch.export fix the batch (a guard like ``x.shape[0] == 16``):
                # the placeholders then hold a constant where the batch was.
                vals = [n.meta.get("val") for n in ep.graph.nodes if n.op == "placeholder" and n.name in set(ep.graph_signature.user_inputs)]
                dynamic = batched and bool(vals) and all(v is not None and len(v.shape) and not is_concrete_int(v.shape[0]) for v in vals)
                if calibration is not None:
                    from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e

                    from executorch.backends.xnnpack.quantizer.xnnpack_quantizer import XNNPACKQuantizer, get_symmetric_quantization_config

                    quantizer = XNNPACKQuantizer().set_global(get_symmetric_quantization_config(is_per_channel=True))
                    prepared = prepare_pt2e(ep.module(), quantizer)
                    calls = _calibration_args(specs, batched, calibration)
                    if not calls:
                        raise UsageError("no calibration inputs", "executorch-int8 needs inputs to calibrate on")
                    fixed = None if dynamic or not batched else EXAMPLE_BATCH
                    for args in calls:
                        if fixed and args[0].shape[0] != fixed:
                            args = tuple(torch.cat([a, a[-1:].expand(fixed - a.shape[0], *a.shape[1:])]) if a.shape[0] < fixed else a[:fixed] for a in args)
                        prepared(*args)
                    ep = export(convert_pt2e(prepared), example, dynamic_shapes=shapes, strict=False)
                program = to_edge_transform_and_lower(ep, partitioner=partitioners).to_executorch()
            path.write_bytes(program.buffer)
        except (OSError, UsageError):
            raise
        except Exception as exc:  # noqa: BLE001 - the exporter raises many kinds; each means "cannot convert"
            err = exc
    if err is None:
        return {"batch": ("dynamic" if dynamic else "fixed") if batched else "as the signature", "example_batch": EXAMPLE_BATCH, "max_batch": MAX_BATCH, "backend": backend, "int8": calibration is not None}
    text = f"{err}\n{''.join(log)}"
    op = unsupported_op(text)
    why = f"unsupported: {op} (not in ExecuTorch's op set)" if op else f"unsupported: {_first_line(err)}"
    raise RuntimeUnsupported(f"executorch cannot convert {label}", why) from None


class PteProgram:
    """A ``.pte`` loaded by ExecuTorch's C++ runtime, run on arrays in forward's order.

    ``batched``: rows are cut into chunks of what the program planned for (read from the
    method's metadata); ``fixed``: the batch is fixed at the planned size, so the last chunk is
    padded with its last row and the padding dropped from the outputs. ``threads`` resizes the
    process-wide threadpool until :meth:`close`."""

    def __init__(self, path: Path, *, batched: bool, fixed: bool, threads: int | None = None, label: str = "the model") -> None:
        from irisonnx.runtimes.conversion import RuntimeUnsupported

        self.path, self.batched = Path(path), batched
        self._saved_threads: int | None = None
        err: BaseException | None = None
        with _quiet() as log:
            try:
                import torch

                self._torch = torch
                lib = _pybindings()
                self.lib = lib
                if threads:
                    self._saved_threads = lib._threadpool_get_thread_count()
                    lib._unsafe_reset_threadpool(int(threads))
                self._program = lib._load_program(str(path), program_verification=lib.Verification.InternalConsistency)
                self._method = self._program.load_method("forward")
                meta = self._method.method_meta()
                planned = [tuple(meta.input_tensor_meta(i).sizes()) for i in range(meta.num_inputs())]
            except Exception as exc:  # noqa: BLE001
                err = exc
        if err is not None:
            self.close()
            text = f"{err}\n{''.join(log)}"
            op = unsupported_op(text)
            why = f"unsupported: {op} (no kernel in this ExecuTorch runtime)" if op else f"cannot load {self.path.name}: {_first_line(err)}"
            raise RuntimeUnsupported(f"executorch cannot run {label}", why)
        self.planned = planned
        # Rows per call: what the program planned for. A bounded dynamic batch may plan fewer
        # rows than declared; a fixed batch is padded up to its size.
        self.chunk: int | None = (min(p[0] for p in planned) if planned and all(planned) else 1) if batched else None
        self.fixed: int | None = self.chunk if batched and fixed else None

    @property
    def threads(self) -> int:
        return int(self.lib._threadpool_get_thread_count())

    def close(self) -> None:
        """The process-wide threadpool back to its size."""
        if self._saved_threads is not None:
            self.lib._unsafe_reset_threadpool(self._saved_threads)
            self._saved_threads = None

    def _call(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        torch = self._torch
        return [t.numpy() for t in self._method([torch.from_numpy(np.ascontiguousarray(a)) for a in arrays])]

    def run(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        """The program's outputs for ``arrays`` (forward's inputs, in order), any row count."""
        if not self.batched:
            return self._call(arrays)
        n = arrays[0].shape[0]
        step = self.chunk or n
        parts: list[list[np.ndarray]] = []
        for lo in range(0, max(n, 1), step):
            chunk = [a[lo : lo + step] for a in arrays]
            rows = chunk[0].shape[0]
            if self.fixed and rows < self.fixed:  # a fixed batch: pad with the last row, drop it after
                chunk = [np.concatenate([c, np.repeat(c[-1:], self.fixed - rows, axis=0)]) for c in chunk]
            res = self._call(chunk)
            parts.append([r[:rows] if self.fixed and r.ndim and r.shape[0] == self.fixed else r for r in res])
        return [np.concatenate(p) if len(parts) > 1 else p[0] for p in zip(*parts)]


def _code_digest(ctx: Any, model: Any) -> str:
    """What the weights digest misses: the forward's code. A --module file's bytes; the run's
    MLP config (its activation is no weight) and irisonnx's version; an nn.Module handed over
    by the API, its class's source where Python can find it."""
    import dataclasses
    import hashlib
    import inspect
    import json

    spec = ctx.module
    if spec is not None and getattr(spec, "path", None) is not None:
        return hashlib.sha256(Path(spec.path).read_bytes()).hexdigest()
    if spec is not None:
        try:
            return hashlib.sha256(inspect.getsource(type(model)).encode()).hexdigest()
        except (OSError, TypeError):
            return "source unavailable"
    from irisonnx import __version__

    return json.dumps({"model": dataclasses.asdict(ctx.run.model_config), "irisonnx": __version__}, sort_keys=True, default=str)


class ExecuTorchRuntime(Runtime):
    kind = "executorch"

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

    def _signature(self) -> Any:
        from irisonnx.modelfile.signature import Signature, TensorSpec

        info = self.ctx.model_info
        if info is not None:
            return info.signature
        n_f = len(self.ctx.run.config["data"]["feature_names"])
        return Signature((TensorSpec("features", "float32", ("batch", n_f)),), (TensorSpec("logits", "float32", ("batch", None)),))

    def _activate(self) -> None:
        import torch

        from irisonnx.runtimes.conversion import convert, module_digest
        from irisonnx.runtimes.torch_eager import load_torch_model

        self._torch = torch
        self.conversion = None
        self.program: PteProgram | None = None
        model, self._params, source = load_torch_model(self.ctx)
        sig = self._signature()
        self._specs = input_specs(sig, self._params)
        self._batched = sig.batched()
        label = self.ctx.module.label if self.ctx.module is not None else "the run's model"
        options = {
            "backend": self.backend,
            "max_batch": MAX_BATCH if self._batched else None,
            "inputs": [s.describe() for s in self._specs],
            "torch": torch.__version__,
        }
        conv = convert(
            self.ctx,
            "executorch" if self.backend == "xnnpack" else "executorch-portable",
            ".pte",
            source=source,
            source_sha256=module_digest(model, extra=_code_digest(self.ctx, model)),
            converter="executorch",
            converter_version=_version("executorch"),
            make=lambda path: export_pte(model, self._specs, self._batched, path, backend=self.backend, label=label),
            options=options,
        )
        self.conversion = conv
        details = conv.sidecar.get("details") or {}
        self.program = PteProgram(conv.path, batched=self._batched, fixed=details.get("batch") != "dynamic", threads=self.ctx.threads, label=label)

    def deactivate(self) -> None:
        """The process-wide threadpool back to its size (bench --threads changed it)."""
        if getattr(self, "program", None) is not None:
            self.program.close()
        super().deactivate()

    def _run(self, feeds: dict[str, np.ndarray], start: int) -> dict[str, np.ndarray]:
        from irisonnx.runtimes.torch_eager import forward_arrays, named_outputs

        assert self.program is not None
        arrays = [np.ascontiguousarray(a) for a in forward_arrays(self._params, feeds)]
        for a, s in zip(arrays, self._specs):
            for i, d in enumerate(a.shape):
                if 0 < i < len(s.shape) and not isinstance(s.shape[i], int) and d > OTHER_DIM_MAX:
                    raise UsageError(f"executorch: input {s.name!r} has {d} in dimension {i}", f"the program was exported for at most {OTHER_DIM_MAX} there", f"compare at most {OTHER_DIM_MAX} (--dim)")
        outs = self.program.run(arrays)
        torch = self._torch
        return named_outputs([torch.from_numpy(o) for o in outs], self.ctx.output_names, from_module=self._params is not None)

    # -- description ----------------------------------------------------------------------
    def threads_used(self, asked: int | None) -> str:
        """For bench: ExecuTorch's threadpool (XNNPACK's workers; most portable kernels run on
        the calling thread alone)."""
        n = self.program.threads if getattr(self, "program", None) is not None else "?"
        who = "XNNPACK" if self.backend == "xnnpack" else "the kernels that use it; most portable ones run on the calling thread"
        return f"{n} (ExecuTorch threadpool, for {who}{'' if asked else '; default: the cores'})"

    def info(self) -> dict[str, Any]:
        conv = getattr(self, "conversion", None)
        prog = getattr(self, "program", None)
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
        if prog is not None:
            d["threads"] = prog.threads
            if prog.batched:
                d["max_batch"] = prog.chunk
                d["batch"] = f"fixed {prog.fixed}, padded" if prog.fixed else f"dynamic, up to {prog.chunk} rows a call (declared {MAX_BATCH})"
        if conv is not None and conv.notes:
            d["notes"] = list(conv.notes)
        return d

    def intermediates(self, feeds: dict[str, np.ndarray]) -> list[Intermediate]:
        raise NotImplementedError(f"{self.name} runs a compiled .pte program: it cannot expose intermediate tensors (compare torch against ort-cpu with --locate to find the diverging node)")
