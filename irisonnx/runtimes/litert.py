"""LiteRT (formerly TensorFlow Lite): a ``.tflite`` run by ai-edge-litert's Interpreter on the CPU.

LiteRT cannot read ONNX, so the model is converted first, and the conversion is an artifact
(:mod:`irisonnx.runtimes.conversion`: under the run or beside the model, with a sidecar naming
the source's sha256 and the converter; never reused for another source). Two routes:

* **onnx2tf** (preferred): the ONNX file itself, converted by onnx2tf in its own environment
  (``irisonnx setup litert``; see :mod:`irisonnx.runtimes.litert_converter`), every input's
  layout kept (no NCHW-to-NHWC transposition) and the tflite's signature carrying the ONNX
  input and output names. A dynamic batch stays dynamic (the interpreter is resized).
* **litert-torch**: without the converter environment, the torch weights (a run's MLP, or
  ``--module``) are converted in-process by litert-torch, which takes static shapes only: the
  model is converted for a batch of 1 and one of :data:`BATCH` rows (or the model's own fixed
  batch), and rows are run in chunks of that size, the last one padded (padding rows dropped).
  This runs the torch weights, not the ONNX file: ``info()`` says so, and notes when the ONNX
  file given (``--model``) is not the run's own.

A model the converter cannot take is :class:`RuntimeUnsupported` ("unsupported: OP" where the
converter names the op): compare skips it and compares the others. The converters' own output
(TensorFlow, MLIR and progress logging) is captured, never shown unless the conversion fails.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import logging
import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from irisonnx.errors import RuntimeUnavailable, UsageError
from irisonnx.runtimes.base import Intermediate, Runtime

__all__ = ["LiteRTRuntime", "TFLiteModel", "BATCH", "quiet_output"]

BATCH = 64  # rows per call for a static-shape conversion (litert-torch); batch 1 has its own signature
PACKAGE_HINT = "ai-edge-litert is not installed: pip install 'irisonnx[litert]'"
ROUTE_ONNX = "onnx2tf from the ONNX file"
ROUTE_TORCH = "litert-torch from the run's torch weights"
ROUTE_MODULE = "litert-torch from the --module torch weights"
ROUTE_FILE = "the .tflite file as given"  # an edge bundle's litert variant (bench --variants)


def _version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "unknown"


@contextlib.contextmanager
def quiet_output(tail: list[str], lines: int = 12) -> Iterator[None]:
    """Everything written to stdout/stderr inside (Python objects and the C++ file
    descriptors: TensorFlow/MLIR logging, progress bars), plus warnings and logging, goes to a
    temporary file instead. On an exception its last ``lines`` lines are put in ``tail``."""
    for s in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            s.flush()
    with tempfile.TemporaryFile(mode="w+b") as f:
        saved: list[tuple[int, int]] = []
        for fd in (1, 2):
            try:
                saved.append((fd, os.dup(fd)))
                os.dup2(f.fileno(), fd)
            except OSError:
                pass
        text = io.TextIOWrapper(f, encoding="utf-8", errors="replace", write_through=True)
        old_disable = logging.root.manager.disable
        logging.disable(logging.WARNING)
        try:
            with warnings.catch_warnings(), contextlib.redirect_stdout(text), contextlib.redirect_stderr(text):
                warnings.simplefilter("ignore")
                yield
        except BaseException:
            with contextlib.suppress(Exception):
                text.flush()
                f.seek(0)
                got = f.read().decode("utf-8", "replace").splitlines()
                tail.extend([ln for ln in got if ln.strip()][-lines:])
            raise
        finally:
            logging.disable(old_disable)
            with contextlib.suppress(Exception):
                text.flush()
            for fd, dup in saved:
                os.dup2(dup, fd)
                os.close(dup)
            text.detach()


def _np_dtype(name: str) -> Any:
    try:
        return np.dtype({"float": "float32", "double": "float64", "bool": "bool"}.get(name, name))
    except TypeError:
        return None


def _norm(name: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in name).strip("_").lower()


class _Plan:
    """One tflite signature: its runner, and how ONNX names map onto it. Quantized inputs and
    outputs (an int8 model's) are quantized and dequantized with the tensor's own scale and
    zero point, so callers always see the ONNX model's float arrays."""

    def __init__(self, runner: Any, inputs: dict[str, tuple[str, Any, int | None]], outputs: dict[str, str], out_dtypes: dict[str, Any]) -> None:
        self.runner = runner
        self.inputs = inputs  # onnx name -> (tflite name, numpy dtype, static batch or None)
        self.outputs = outputs  # tflite name -> onnx name
        self.out_dtypes = out_dtypes  # onnx name -> numpy dtype wanted
        ins, outs = runner.get_input_details(), runner.get_output_details()
        self._in_q = {tfl: _qparams(ins[tfl]) for tfl, _, _ in inputs.values()}
        self._out_q = {tfl: _qparams(d) for tfl, d in outs.items()}

    @property
    def batch(self) -> int | None:
        fixed = {b for _, _, b in self.inputs.values()}
        return fixed.pop() if len(fixed) == 1 else None

    def call(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        args = {}
        for name, (tfl, dt, _) in self.inputs.items():
            q = self._in_q.get(tfl)
            if q is not None:  # float -> the integer type, with the tensor's scale and zero point
                info = np.iinfo(dt)
                args[tfl] = np.clip(np.round(np.asarray(feeds[name], np.float32) / q[0] + q[1]), info.min, info.max).astype(dt)
            else:
                args[tfl] = np.ascontiguousarray(feeds[name], dtype=dt)
        res = self.runner(**args)
        out = {}
        for tfl, v in res.items():
            name = self.outputs.get(tfl, tfl)
            want = self.out_dtypes.get(name)
            q = self._out_q.get(tfl)
            if q is not None:
                v = (np.asarray(v, np.float32) - q[1]) * np.float32(q[0])
            out[name] = np.array(v, dtype=want if want is not None else None, copy=True)
        return out


def _qparams(detail: dict[str, Any]) -> tuple[float, int] | None:
    """(scale, zero point) of a quantized integer tensor, or None for a plain one."""
    scale, zero = detail.get("quantization", (0.0, 0))
    if scale and np.dtype(detail["dtype"]).kind in "iu":
        return float(scale), int(zero)
    return None


class TFLiteModel:
    """A ``.tflite`` file run by ai-edge-litert, addressed by the ONNX model's names.

    ``inputs``/``outputs``: the ONNX names, matched to the tflite signature's by name (onnx2tf
    and irisonnx's litert-torch conversions keep them), else in order (``args_N``/``output_N``). Every signature is loaded: a dynamic batch is
    resized as needed; a static one runs in chunks of its batch (the last padded), with a
    batch-1 signature used for single rows when there is one."""

    def __init__(self, path: Any, inputs: list[str], outputs: list[str], *, threads: int = 1, out_dtypes: dict[str, Any] | None = None) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_path=str(path), num_threads=threads)
        self.plans: dict[str, _Plan] = {}
        sigs = self.interpreter.get_signature_list()
        first = next(iter(sigs.values()), {"inputs": [], "outputs": []})
        inputs = list(inputs) or _by_index(list(first["inputs"]))  # no names given: the tflite's own
        outputs = list(outputs) or _by_index(list(first["outputs"]))
        for key, io_names in sigs.items():
            runner = self.interpreter.get_signature_runner(key)
            details = runner.get_input_details()
            in_map = _match(inputs, list(io_names["inputs"]), "inputs")
            out_map = _match(outputs, list(io_names["outputs"]), "outputs")
            plan_inputs = {}
            for name, tfl in in_map.items():
                d = details[tfl]
                sig = d["shape_signature"]
                static = int(sig[0]) if len(sig) and int(sig[0]) > 0 else None
                plan_inputs[name] = (tfl, np.dtype(d["dtype"]), static)
            self.plans[key] = _Plan(runner, plan_inputs, {v: k for k, v in out_map.items()}, dict(out_dtypes or {}))
        for plan in self.plans.values():  # the first invoke applies XNNPACK (and says so on stderr)
            shapes = plan.runner.get_input_details()
            plan.runner(**{tfl: np.zeros([max(int(d), 1) for d in shapes[tfl]["shape"]], dtype=dt) for tfl, dt, _ in plan.inputs.values()})

    @property
    def batch(self) -> int | None:
        """The static batch it runs in (None: dynamic)."""
        if any(p.batch is None for p in self.plans.values()):
            return None
        return max((p.batch or 0 for p in self.plans.values()), default=0) or None

    def run(self, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        plans = list(self.plans.values())
        first = next(iter(feeds.values())) if feeds else None
        n = first.shape[0] if first is not None and first.ndim else 1
        dynamic = next((p for p in plans if p.batch is None), None)
        if dynamic is not None:
            return dynamic.call(feeds)
        one = next((p for p in plans if p.batch == 1), None)
        if n == 1 and one is not None:
            return one.call(feeds)
        big = max(plans, key=lambda p: p.batch or 0)
        b = big.batch or 1
        if n == 0:  # no rows: the outputs' shapes from one padding-only call
            return {k: v[:0] for k, v in big.call({k: np.zeros((b, *v.shape[1:]), v.dtype) for k, v in feeds.items()}).items()}
        parts: list[dict[str, np.ndarray]] = []
        for lo in range(0, n, b):
            chunk = {k: v[lo:lo + b] for k, v in feeds.items()}
            rows = next(iter(chunk.values())).shape[0]
            if rows < b:  # pad with copies of the last row; their outputs are dropped
                chunk = {k: np.concatenate([v, np.repeat(v[-1:], b - rows, axis=0)]) for k, v in chunk.items()}
            out = big.call(chunk)
            parts.append({k: v[:rows] for k, v in out.items()})
        if len(parts) == 1:
            return parts[0]
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _match(wanted: list[str], have: list[str], what: str) -> dict[str, str]:
    """wanted (ONNX) name -> have (tflite) name: exact, then after normalising punctuation,
    then by position for what is left when the counts agree."""
    out: dict[str, str] = {}
    left = _by_index(list(have))  # what is left is taken in order: args_2 before args_10
    for w in wanted:
        if w in left:
            out[w] = w
            left.remove(w)
    for w in wanted:
        if w not in out:
            hit = next((h for h in left if _norm(h) == _norm(w)), None)
            if hit is not None:
                out[w] = hit
                left.remove(hit)
    rest = [w for w in wanted if w not in out]
    if rest and len(rest) == len(left):
        out.update(zip(rest, left))
    elif rest:
        from irisonnx.runtimes.conversion import RuntimeUnsupported

        raise RuntimeUnsupported("litert cannot run this model", f"the tflite's {what} {', '.join(have)} do not match the model's {', '.join(wanted)}")
    return out


class LiteRTRuntime(Runtime):
    kind = "litert"

    def __init__(self, ctx: Any, option: str = "") -> None:
        super().__init__(ctx, option)
        self._conv: Any = None
        self._notes: list[str] = []
        self._model: TFLiteModel | None = None
        self.conversion_log: list[str] = []  # the converter's last lines when it failed
        # litert-torch route: also a batch-1 signature (latency). An int8 variant turns it off:
        # ai-edge-quantizer mixes up the two signatures' tensors when calibrating.
        self.batch1 = True

    # -- which way the model reaches LiteRT -----------------------------------------------
    def _route(self) -> str | None:
        from irisonnx.runtimes.litert_converter import converter_status

        if self._given() is not None:
            return ROUTE_FILE
        if self.ctx.model_info is not None and converter_status()[0]:
            return ROUTE_ONNX
        if self.ctx.module is not None:
            return ROUTE_MODULE
        if self.ctx.run is not None:
            return ROUTE_TORCH
        return None

    def _given(self) -> Any:
        """A .tflite given as the model (model_path), run as it is: no conversion."""
        p = self.ctx.model_path
        return Path(p) if p is not None and str(p).endswith(".tflite") else None

    def is_available(self) -> tuple[bool, str]:
        if self.option:
            raise UsageError("litert takes no option", f"got {self.option!r}", "run it as litert (float32, CPU)")
        if importlib.util.find_spec("ai_edge_litert") is None:
            return False, PACKAGE_HINT
        route = self._route()
        if route is None:
            if self.ctx.model_info is not None:
                from irisonnx.runtimes.litert_converter import converter_status

                return False, converter_status()[1]
            return False, "needs an ONNX model (with the converter: irisonnx setup litert) or torch weights (a run folder or --module)"
        if route != ROUTE_ONNX and importlib.util.find_spec("litert_torch") is None:
            return False, "litert-torch is not installed (it converts the torch weights without the ONNX-to-TFLite converter): pip install 'irisonnx[litert]', or irisonnx setup litert"
        return True, ""

    # -- conversion ------------------------------------------------------------------------
    def _activate(self) -> None:
        ok, why = self.is_available()
        if not ok:
            raise RuntimeUnavailable(f"{self.name} unavailable", why)
        self._route_used = self._route()
        self._notes = []
        if self._route_used == ROUTE_MODULE and self.ctx.model_info is not None:
            self._notes.append(f"litert ran the --module torch weights (converted by litert-torch), not {self.ctx.model_info.path}: irisonnx setup litert converts the ONNX file itself")
        if self._route_used == ROUTE_ONNX:
            self._convert_onnx()
        elif self._route_used != ROUTE_FILE:
            self._convert_torch()
        self._load()

    def _convert_onnx(self) -> None:
        from irisonnx.runtimes.conversion import RuntimeUnsupported, convert
        from irisonnx.runtimes.litert_converter import ConversionFailed, converter_versions, onnx2tf_convert

        info = self.ctx.model_info
        if info.has_external_data:
            data = info.proto_with_data().SerializeToString()
            sha = hashlib.sha256(data).hexdigest()
        else:
            data, sha = info.data, info.sha256
        versions = converter_versions()
        inputs = [i.name for i in info.signature.inputs]
        self._versions = {"onnx2tf": versions.get("onnx2tf", "unknown"), "tensorflow": versions.get("tensorflow", "unknown")}

        def make(path: Any) -> None:
            onnx2tf_convert(data, path, inputs)

        try:
            self._conv = convert(self.ctx, "litert", ".tflite", source=str(info.path), source_sha256=sha, converter="onnx2tf", converter_version=self._versions["onnx2tf"], make=make,
                                 options={"keep_input_layout": True, "signature_defs": True, "tensorflow": self._versions["tensorflow"], "precision": "f32"})
        except ConversionFailed as exc:
            self.conversion_log = exc.tail.splitlines()
            if exc.op:
                raise RuntimeUnsupported("litert cannot run this model", f"onnx2tf {self._versions['onnx2tf']}: unsupported: {exc.op}") from None
            last = next((ln for ln in reversed(self.conversion_log) if ln.strip()), "no output")
            raise RuntimeUnsupported("litert cannot run this model", f"onnx2tf {self._versions['onnx2tf']} could not convert it: {last.strip()}") from None

    def _torch_model(self) -> tuple[Any, list[str], list[tuple[tuple[int, ...], Any]], list[str]]:
        """(module to convert: forward(*inputs) -> its outputs as a tuple, input names in
        forward's order, per input (shape without the batch, torch dtype), output names)."""
        import torch

        sig = self.ctx.model_info.signature if self.ctx.model_info is not None else None
        if self.ctx.module is not None:
            from irisonnx.training.module import flatten_outputs, forward_names

            user = self.ctx.module.load()
            names = forward_names(user)
            if sig is None:
                raise RuntimeUnavailable("litert unavailable", "--module needs the ONNX file for the input shapes")
            specs = {i.name: i for i in sig.inputs}
            missing = [n for n in names if n not in specs]
            if missing:
                raise UsageError("the module's forward takes " + ", ".join(names), f"the inputs are named {', '.join(specs)}", "name the ONNX inputs after forward's parameters")
            names = [n for n in names if n in specs]
            shapes = []
            for n in names:
                s = specs[n]
                dyn = [d for d in s.shape[1:] if not isinstance(d, int)]
                if dyn:
                    from irisonnx.runtimes.conversion import RuntimeUnsupported

                    raise RuntimeUnsupported("litert cannot run this model", f"litert-torch converts static shapes only: input {n} {s.shape_str()} has a symbolic dimension {dyn[0]} (irisonnx setup litert converts the ONNX file instead)")
                shapes.append((tuple(int(d) for d in s.shape[1:]), getattr(torch, str(_np_dtype(s.dtype)))))

            class Flat(torch.nn.Module):
                def __init__(self) -> None:
                    super().__init__()
                    self.inner = user

                def forward(self, *args: Any) -> Any:
                    return tuple(flatten_outputs(self.inner(*args)))

            return Flat().eval(), names, shapes, list(self.ctx.output_names)

        run = self.ctx.run
        mlp = run.load_model()
        n_f = len(run.config["data"]["feature_names"])
        wanted = list(self.ctx.output_names) or ["logits"]
        with_p, with_l = "probabilities" in wanted, "label" in wanted

        class Wrapped(torch.nn.Module):  # the exported graph's extra outputs, computed by LiteRT too
            def __init__(self) -> None:
                super().__init__()
                self.mlp = mlp

            def forward(self, features: Any) -> Any:
                logits = self.mlp(features)
                outs = [logits]
                if with_p:
                    outs.append(torch.softmax(logits, dim=1))
                if with_l:
                    outs.append(torch.argmax(logits, dim=1))
                return tuple(outs)

        names = [o for o in wanted if o not in ("probabilities", "label")][:1] or ["logits"]
        out_names = names + (["probabilities"] if with_p else []) + (["label"] if with_l else [])
        in_name = sig.inputs[0].name if sig is not None else "features"
        return Wrapped().eval(), [in_name], [((n_f,), torch.float32)], out_names

    def _code_digest(self) -> str:
        """What the module's forward depends on besides its weights: the --module file's bytes,
        or the run's model config and irisonnx's version (the MLP's code ships with irisonnx)."""
        import json

        from irisonnx import __version__

        h = hashlib.sha256()
        spec = self.ctx.module
        if spec is not None:
            path = getattr(spec, "path", None)
            h.update(Path(path).read_bytes() if path is not None else f"{type(spec.module).__module__}.{type(spec.module).__qualname__}".encode())
        elif self.ctx.run is not None:
            h.update(json.dumps(self.ctx.run.config.get("model"), sort_keys=True).encode())
        h.update(__version__.encode())
        return h.hexdigest()

    def _convert_torch(self) -> None:
        from irisonnx.runtimes.conversion import RuntimeUnsupported, convert, module_digest

        model, in_names, shapes, out_names = self._torch_model()
        sig = self.ctx.model_info.signature if self.ctx.model_info is not None else None
        fixed = sig.inputs[0].shape[0] if sig is not None and sig.inputs and sig.inputs[0].shape and isinstance(sig.inputs[0].shape[0], int) else None
        batch = fixed or BATCH
        self._versions = {"litert-torch": _version("litert-torch"), "torch": _version("torch")}
        layout = ";".join(f"{n}:{list(s)}:{dt}" for n, (s, dt) in zip(in_names, shapes))
        digest = module_digest(model, extra=f"batch={batch};inputs={layout};outputs={','.join(out_names)};code={self._code_digest()}")
        if self.ctx.run is not None and self.ctx.model_info is not None and self.ctx.module is None:
            run_onnx = self.ctx.run.onnx_path
            try:
                same = os.path.samefile(self.ctx.model_info.path, run_onnx)
            except OSError:
                same = False
            if not same:
                self._notes.append(f"litert ran the run's torch weights, not {self.ctx.model_info.path} (irisonnx setup litert converts the ONNX file itself)")

        def make(path: Any) -> None:
            import torch

            tail: list[str] = []
            try:
                with quiet_output(tail):
                    import litert_torch

                    named = _named(model, in_names, out_names)
                    keywords = named is not model  # the tflite's inputs and outputs carry the ONNX names

                    def sample(b: int) -> dict[str, Any]:
                        arrays = tuple(torch.zeros((b, *s), dtype=dt) for s, dt in shapes)
                        return {"sample_kwargs": dict(zip(in_names, arrays))} if keywords else {"sample_args": arrays}

                    conv = litert_torch.signature(f"b{batch}", named, **sample(batch))
                    if batch != 1 and self.batch1:
                        conv = conv.signature("b1", named, **sample(1))
                    conv.convert().export(str(path))
            except (RuntimeUnavailable, UsageError):
                raise
            except Exception as exc:  # noqa: BLE001 - the converter raises anything
                self.conversion_log = tail + [f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"]
                op = _torch_op(exc)
                what = f"unsupported: {op}" if op else f"could not convert it: {type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:200]}"
                raise RuntimeUnsupported("litert cannot run this model", f"litert-torch {self._versions['litert-torch']}: {what}") from None

        self._conv = convert(self.ctx, "litert" if self.batch1 else "litert1", ".tflite", source=f"torch weights ({'--module ' + self.ctx.module.label if self.ctx.module is not None else 'run ' + str(self.ctx.run.dir)})", source_sha256=digest,
                             converter="litert-torch", converter_version=self._versions["litert-torch"], make=make, options={"batch": batch, "batch1": self.batch1 and batch != 1, "precision": "f32", "inputs": in_names, "outputs": out_names, "io_names": "onnx"})
        self._out_names = out_names
        self._in_names = in_names

    def _load(self) -> None:
        sig = self.ctx.model_info.signature if self.ctx.model_info is not None else None
        if self._route_used == ROUTE_FILE:  # named as the ONNX model it was made from, when given
            ins, outs = ([i.name for i in sig.inputs], sig.output_names) if sig is not None else ([], [])
        elif self._route_used == ROUTE_ONNX:
            ins, outs = [i.name for i in sig.inputs], sig.output_names
        else:  # litert-torch: the ONNX names (or args_N/output_N in order: see _named)
            ins, outs = self._in_names, self._out_names
        out_dt = {"logits": np.dtype(np.float32), "probabilities": np.dtype(np.float32), "label": np.dtype(np.int64)} if self._route_used == ROUTE_TORCH else {}
        out_dt.update({o.name: _np_dtype(o.dtype) for o in sig.outputs} if sig is not None else {})
        tail: list[str] = []
        try:
            with quiet_output(tail):
                self._model = TFLiteModel(self._given() if self._route_used == ROUTE_FILE else self._conv.path, ins, outs, threads=self.ctx.threads or 1, out_dtypes=out_dt)
        except RuntimeUnavailable:
            raise
        except Exception as exc:  # noqa: BLE001 - the interpreter says what it cannot run in a ValueError/RuntimeError
            import re

            from irisonnx.runtimes.conversion import RuntimeUnsupported

            text = " ".join([str(exc), *tail])
            m = re.search(r"(?:custom op|builtin op|[Oo]p(?:erator)?)[: ]+'?([A-Za-z0-9_]+)'?", text)
            first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
            self.conversion_log = tail
            raise RuntimeUnsupported("litert cannot run this model", f"ai-edge-litert {_version('ai-edge-litert')}: " + (f"unsupported: {m.group(1)}" if m else f"cannot run the converted model: {first}")) from None

    def threads_desc(self) -> str:
        return f"{self.ctx.threads or 1} (LiteRT interpreter threads{'' if self.ctx.threads else '; one by default'})"

    def deactivate(self) -> None:
        self._model = None
        super().deactivate()

    # -- running ---------------------------------------------------------------------------
    def _run(self, feeds: dict[str, np.ndarray], start: int) -> dict[str, np.ndarray]:
        return self._model.run(feeds)

    # -- what ran ----------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        route = getattr(self, "_route_used", None)
        if route is None:
            try:
                route = self._route()
            except Exception:  # noqa: BLE001 - info never fails
                route = None
        d: dict[str, Any] = {"name": self.name, "kind": self.kind, "versions": {"ai-edge-litert": _version("ai-edge-litert"), **getattr(self, "_versions", {})}, "precision": "f32", "route": route, "conversion": None, "reused": False, "threads": self.ctx.threads or 1, "device": "cpu"}
        if self._given() is not None:
            d["model"] = str(self._given())
        if self._conv is not None:
            d["conversion"] = str(self._conv.path.with_name(self._conv.path.name + ".json"))
            d["reused"] = bool(self._conv.reused)
            d["converted_file"] = str(self._conv.path)
        if self._model is not None:
            d["batch"] = self._model.batch or "dynamic"
        notes = list(self._notes) + (list(self._conv.notes) if self._conv is not None else [])
        if notes:
            d["notes"] = notes
        return d

    def intermediates(self, feeds: dict[str, np.ndarray]) -> list[Intermediate]:
        raise NotImplementedError("litert cannot expose intermediate tensors (the .tflite's internal tensors do not map onto the ONNX graph's): --locate works with torch, ort-cpu and reference")


def _named(model: Any, in_names: list[str], out_names: list[str]) -> Any:
    """``model`` (forward(*inputs) -> tuple) as forward(**inputs) -> {output name: tensor}, so
    that litert-torch names the tflite's inputs and outputs after the ONNX model's (a bundle's
    predict.py finds them by name). Inputs must be Python identifiers for that (torch.export
    writes them as parameters); otherwise ``model`` itself (args_N/output_N, mapped in order)."""
    import keyword

    import torch

    if not all(n.isidentifier() and not keyword.iskeyword(n) for n in in_names) or len(set(out_names)) != len(out_names):
        return model

    class Named(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = model

        def forward(self, **kw: Any) -> Any:
            outs = self.inner(*(kw[n] for n in in_names))
            names = list(out_names) + [f"output_{i}" for i in range(len(out_names), len(outs))]
            return dict(zip(names, outs))

    return Named().eval()


def _by_index(names: list[str]) -> list[str]:
    """litert-torch's args_0, args_1, ..., output_0, ... in numeric order (the signature lists
    them sorted as strings: args_10 before args_2)."""
    import re

    def key(n: str) -> tuple[int, str]:
        m = re.search(r"(\d+)$", n)
        return (int(m.group(1)) if m else -1, n)

    return sorted(names, key=key)


def _torch_op(exc: BaseException) -> str | None:
    """The aten/torch op litert-torch names in its error, if any."""
    import re

    m = re.search(r"(aten\.[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)?)", str(exc))
    return m.group(1) if m else None
