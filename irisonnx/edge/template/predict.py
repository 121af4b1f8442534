#!/usr/bin/env python3
"""Run a model from this irisonnx edge bundle. Needs only numpy and the variant's runtime:
onnxruntime (openvino for the openvino-* variants, ai-edge-litert for the litert-* ones; an
ExecuTorch variant, model.executorch-*.pte: executorch-numpy-runtime on Python >= 3.12, or else
the executorch package, whose runtime needs torch).

    python predict.py --values "5.1,3.5,1.4,0.2"
    python predict.py --input rows.csv --variant int8-static
    python predict.py --input rows.csv --variant fp16 --ort --json
    python predict.py --input inputs.npz --output outputs.npz --variant int8-static

Any model: --input FILE.npz holds one array per input name (FILE.npy for a model with one
input), checked against the inputs listed in labels.json (names, types, ranks, fixed
dimensions); --output FILE.npz writes every output by name. Without --output, a model that
is not a classifier prints each output's type, shape and first values (--json: every value).

Before loading, the model's sha256 (and labels.json's) is checked against manifest.json; a
mismatch exits 3 and nothing is run. Input: --values for one row in the feature order of
labels.json, or --input a CSV (a header is matched by column name; without one, each line
holds the values in feature order), or --input FILE.npz/.npy. Output: a table of class and
probabilities per row, or --json; --output FILE.npz also writes every output by name. Exit codes: 0 ok; 2 bad usage or input; 3 corrupt or modified bundle; 4 the runtime
missing or unable to run the model.

(irisonnx copies this file verbatim into each bundle as predict.py; it must not import
irisonnx or anything beyond the standard library, numpy and the variants' runtimes, each
imported only by its loader.)
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import math
import os
import sys

EXIT_USAGE, EXIT_ARTIFACT, EXIT_UNAVAILABLE = 2, 3, 4
EDGE_FORMAT = "irisonnx-edge/1"


class Fail(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_checked(bundle: str, name: str, files: dict) -> bytes:
    """The file's bytes, after checking them against the manifest (exit 3 on any mismatch)."""
    entry = files.get(name)
    if not isinstance(entry, dict) or "sha256" not in entry:
        raise Fail(EXIT_ARTIFACT, f"{name} is not listed in {bundle}/manifest.json; refusing to load it")
    path = os.path.join(bundle, name)
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError:
        raise Fail(EXIT_ARTIFACT, f"{path} is missing from the bundle") from None
    digest = sha256_bytes(data)
    if digest != entry["sha256"]:
        raise Fail(EXIT_ARTIFACT, f"{path} is corrupt or was modified: sha256 {digest[:12]}... differs from the manifest's {str(entry['sha256'])[:12]}...; refusing to load it")
    return data


def load_bundle(bundle: str) -> tuple[dict, dict]:
    path = os.path.join(bundle, "manifest.json")
    try:
        with open(path, encoding="utf-8") as fh:
            manifest = json.load(fh)
    except FileNotFoundError:
        raise Fail(EXIT_USAGE, f"no manifest.json in {bundle}; pass --bundle DIR (the folder irisonnx edge wrote)") from None
    except (OSError, ValueError) as exc:
        raise Fail(EXIT_ARTIFACT, f"{path} is unreadable or corrupt: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != EDGE_FORMAT or not isinstance(manifest.get("files"), dict):
        raise Fail(EXIT_ARTIFACT, f"{path} is not an irisonnx edge manifest ({EDGE_FORMAT})")
    try:
        labels = json.loads(read_checked(bundle, "labels.json", manifest["files"]).decode("utf-8"))
    except ValueError as exc:
        raise Fail(EXIT_ARTIFACT, f"labels.json is corrupt: {exc}") from None
    return manifest, labels


def pick_model(manifest: dict, variant: str | None, model: str | None, ort_format: bool) -> str:
    if model:
        return os.path.basename(model)
    listed = [v["variant"] for v in manifest.get("variants", [])]
    name = variant or manifest.get("default_variant") or (listed[0] if listed else None)
    if name not in listed:
        raise Fail(EXIT_USAGE, f"variant {name!r} is not in this bundle; it has {', '.join(listed) or 'none'}")
    if ort_format:
        return f"model.{name}.ort"
    rec = next(v for v in manifest.get("variants", []) if v["variant"] == name)
    return str(rec.get("file") or f"model.{name}.onnx")


def number(cell: str, where: str, column: str) -> float:
    text = cell.strip()
    if not text:
        raise Fail(EXIT_USAGE, f"{where}, column {column!r} is empty")
    try:
        v = float(text)
    except ValueError:
        raise Fail(EXIT_USAGE, f"{where}, column {column!r} is not a number: {cell!r}") from None
    if not math.isfinite(v):
        raise Fail(EXIT_USAGE, f"{where}, column {column!r} is not finite: {cell!r}")
    return v


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def parse_values(text: str, features: list[str]) -> list[list[float]]:
    cells = text.split(",")
    if len(cells) != len(features):
        raise Fail(EXIT_USAGE, f"--values has {len(cells)} values; the model takes {len(features)} ({', '.join(features)})")
    return [[number(c, "--values", f) for c, f in zip(cells, features)]]


def read_csv(path: str, features: list[str]) -> list[list[float]]:
    try:
        with open(path, "rb") as fh:
            text = fh.read().decode("utf-8-sig")
    except FileNotFoundError:
        raise Fail(EXIT_USAGE, f"input file not found: {path}") from None
    except UnicodeDecodeError as exc:
        raise Fail(EXIT_USAGE, f"{path} is not UTF-8 text: {exc}") from None
    rows = list(csv.reader(io.StringIO(text)))
    while rows and not any(c.strip() for c in rows[-1]):
        rows.pop()
    if not rows:
        raise Fail(EXIT_USAGE, f"{path} is empty")
    first = [c.strip() for c in rows[0]]
    order, start, width = list(range(len(features))), 1, len(features)
    if not all(is_number(c) for c in first if c):  # a header
        missing = [f for f in features if f not in first]
        if missing:
            raise Fail(EXIT_USAGE, f"{path}: header lacks column(s) {', '.join(missing)}; the model's features are {', '.join(features)}")
        order, start, width, rows = [first.index(f) for f in features], 2, len(first), rows[1:]
    out = []
    for i, row in enumerate(rows):
        line = i + start
        if len(row) != width:
            raise Fail(EXIT_USAGE, f"{path}: line {line} has {len(row)} values, expected {width}")
        out.append([number(row[c], f"{path}: line {line}", features[j]) for j, c in enumerate(order)])
    if not out:
        raise Fail(EXIT_USAGE, f"{path} has a header but no data rows")
    return out


_KINDS = {"float16": "f", "float32": "f", "float64": "f", "int8": "iu", "int16": "iu", "int32": "iu", "int64": "iu", "uint8": "iu", "uint16": "iu", "uint32": "iu", "uint64": "iu", "bool": "b"}


def read_arrays(path: str, inputs: list) -> dict:
    """Arrays by input name from .npz (.npy: the one input), checked against labels.json's
    inputs and converted to their types (a float array to another float type, an integer
    array to another integer type; nothing else). Exit 2 naming the array on any mismatch."""
    import numpy as np

    names = [i["name"] for i in inputs]
    try:
        if path.lower().endswith(".npy"):
            if len(inputs) != 1:
                raise Fail(EXIT_USAGE, f"{path}: a .npy file holds one array; the model takes {len(inputs)} inputs ({', '.join(names)}): give a .npz")
            arrays = {names[0]: np.load(path, allow_pickle=False)}
        else:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: np.asarray(z[k]) for k in z.files}
    except FileNotFoundError:
        raise Fail(EXIT_USAGE, f"input file not found: {path}") from None
    except Fail:
        raise
    except Exception as exc:  # zipfile/numpy raise many types for a corrupt file; pickles refused
        raise Fail(EXIT_USAGE, f"{path} is not a readable .npz/.npy of plain arrays: {exc}") from None
    missing = [n for n in names if n not in arrays]
    extra = [k for k in arrays if k not in names]
    if missing or extra:
        raise Fail(EXIT_USAGE, f"{path}: " + "; ".join(([f"no array for input(s) {', '.join(missing)}"] if missing else []) + ([f"array(s) {', '.join(extra)} match no input"] if extra else [])) + f"; the model takes {', '.join(names)}")
    feeds = {}
    for spec in inputs:
        name, dtype, shape = spec["name"], spec["dtype"], spec.get("shape") or []
        a = arrays[name]
        if dtype not in _KINDS or a.dtype.kind not in _KINDS[dtype]:
            raise Fail(EXIT_USAGE, f"{path}: array {name!r} is {a.dtype}; input {name!r} takes {dtype}")
        if shape and a.ndim != len(shape):
            raise Fail(EXIT_USAGE, f"{path}: array {name!r} has shape {list(a.shape)}; input {name!r} has rank {len(shape)} ({shape})")
        for axis, (d, n) in enumerate(zip(shape, a.shape)):
            if isinstance(d, int) and d != n:
                raise Fail(EXIT_USAGE, f"{path}: array {name!r} has shape {list(a.shape)}; input {name!r} needs {d} along axis {axis}")
        feeds[name] = np.ascontiguousarray(a, dtype=np.dtype(dtype))
    return feeds


def tensor_outputs(out: dict) -> dict:
    """Every output as an array; a sequence of maps (skl2onnx's ZipMap) becomes (rows, keys)
    in sorted key order, its keys written beside it as NAME.keys."""
    import numpy as np

    res = {}
    for name, v in out.items():
        if isinstance(v, list) and v and all(isinstance(m, dict) for m in v):
            keys = sorted(v[0])
            res[name] = np.array([[m[k] for k in keys] for m in v])
            res[name + ".keys"] = np.array([str(k) for k in keys])
        else:
            res[name] = np.asarray(v)
        if res[name].dtype == object:  # strings: fixed-width unicode, readable without pickle
            res[name] = res[name].astype(str)
    return res


def write_npz(path: str, arrays: dict) -> None:
    """Write atomically: a temp file in the same folder, then rename over ``path``."""
    import tempfile

    import numpy as np

    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".predict-", suffix=".npz")
    try:
        import zipfile

        with os.fdopen(fd, "wb") as fh:
            # np.savez's layout, member by member: no pickles, and an output named "file" or
            # "allow_pickle" is not taken for one of savez's own arguments.
            with zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED) as z:
                for name, arr in arrays.items():
                    with z.open(name + ".npy", "w", force_zip64=True) as member:
                        np.lib.format.write_array(member, np.asarray(arr), allow_pickle=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise Fail(EXIT_UNAVAILABLE, f"cannot write {path}: {exc}") from None


def softmax(logits):  # float64 inside, float32 out: the same numbers irisonnx predict gives
    import numpy as np

    z = logits.astype(np.float64)
    z -= z.max(axis=1, keepdims=True)
    np.exp(z, out=z)
    z /= z.sum(axis=1, keepdims=True)
    return z.astype(np.float32)


def session(data: bytes, threads: int | None):
    try:
        import numpy as np
        import onnxruntime as ort
    except ImportError as exc:
        raise Fail(EXIT_UNAVAILABLE, f"{exc.name} is not installed: pip install onnxruntime numpy") from None
    so = ort.SessionOptions()
    so.log_severity_level = 3
    if threads:
        so.intra_op_num_threads = threads
    try:
        sess = ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])  # the checked bytes, not the path
    except Exception as exc:  # onnxruntime's errors share no useful base class
        raise Fail(EXIT_UNAVAILABLE, f"onnxruntime {ort.__version__} cannot load the model: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}") from None
    if sess.get_providers()[:1] != ["CPUExecutionProvider"]:
        raise Fail(EXIT_UNAVAILABLE, f"asked for CPUExecutionProvider, the session runs on {sess.get_providers()}")
    return sess, ort.__version__


def run_feeds(sess, feeds: dict) -> dict:
    names = [o.name for o in sess.get_outputs()]
    try:
        return dict(zip(names, sess.run(names, feeds)))
    except Exception as exc:  # onnxruntime's errors share no useful base class
        raise Fail(EXIT_USAGE, f"onnxruntime refused the inputs: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}") from None


def ort_loader(data: bytes, threads: int | None):
    """onnxruntime: (run_feeds over the checked bytes, onnxruntime's version)."""
    sess, version = session(data, threads)
    return (lambda feeds: run_feeds(sess, feeds)), version


def openvino_loader(data: bytes, threads: int | None, weights: bytes = b""):
    """OpenVINO (IR: the checked .xml bytes and its .bin's), in f32 on the CPU: its default on
    CPUs with bf16 arithmetic is bf16, which is not what the bundle's gates measured."""
    try:
        import numpy as np
        import openvino as ov
    except ImportError as exc:
        raise Fail(EXIT_UNAVAILABLE, f"{exc.name} is not installed: pip install openvino numpy") from None
    version = getattr(ov, "__version__", "?").split("-")[0]
    core = ov.Core()
    cfg = {"INFERENCE_PRECISION_HINT": "f32"}
    if threads:
        cfg["INFERENCE_NUM_THREADS"] = threads
    try:
        model = core.read_model(data, ov.Tensor(np.frombuffer(weights, dtype=np.uint8).copy()))  # the checked bytes, not the paths
        compiled = core.compile_model(model, "CPU", cfg)
    except RuntimeError as exc:
        raise Fail(EXIT_UNAVAILABLE, f"openvino {version} cannot load the model: {str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__}") from None
    names = [p.get_any_name() for p in compiled.outputs]
    request = compiled.create_infer_request()

    def run(feeds: dict) -> dict:
        try:
            res = request.infer({k: np.asarray(v) for k, v in feeds.items()})
        except RuntimeError as exc:
            raise Fail(EXIT_USAGE, f"openvino refused the inputs: {str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__}") from None
        return {n: np.asarray(res[i]) for i, n in enumerate(names)}

    return run, version


class quiet_stderr:
    """File descriptor 2 into a temporary file for the block (native runtimes log CPU probing
    there while loading); what they wrote is kept in ``.text``."""

    def __enter__(self):
        import tempfile

        sys.stderr.flush()
        self.saved, self.tmp = os.dup(2), tempfile.TemporaryFile()
        os.dup2(self.tmp.fileno(), 2)
        return self

    def __exit__(self, *exc) -> None:
        sys.stderr.flush()
        os.dup2(self.saved, 2)
        os.close(self.saved)
        self.tmp.seek(0)
        self.text = self.tmp.read().decode("utf-8", "replace")
        self.tmp.close()


def executorch_loader(data: bytes, threads: int | None, side: dict):
    """ExecuTorch .pte: executorch-numpy-runtime (numpy only, Python >= 3.12) when it is
    installed, else the executorch wheel's runtime, which needs torch. ``side`` (the .pte's
    sidecar, checked like every file) gives forward's input order, the output names, and
    whether the batch is fixed (the last chunk is then padded, the padding dropped)."""
    import numpy as np

    try:
        import executorch_numpy_runtime as en
    except ImportError:
        en = None
    try:
        if en is not None:
            with quiet_stderr():
                method = en.Runtime.get().load_program(data).load_method("forward")
            planned = list(method.metadata["inputs"][0]["shape"])
            version = f"executorch-numpy-runtime {en.__version__} (ExecuTorch {en.__et_version__})"

            def call(arrays):
                return [np.asarray(o) for o in method(arrays)]

        else:
            try:
                with quiet_stderr():  # torch's and torchao's import-time warnings
                    import torch

                    try:  # the runtime extension alone: executorch.runtime imports the whole exporter (seconds)
                        from executorch.extension.pybindings import _C as et

                        et._load_program_from_buffer  # noqa: B018
                    except (ImportError, AttributeError):
                        from executorch.extension.pybindings import portable_lib as et
            except ImportError as exc:
                raise Fail(EXIT_UNAVAILABLE, f"{exc.name} is not installed: pip install executorch-numpy-runtime numpy (Python >= 3.12, no torch), or pip install executorch (with torch)") from None
            from importlib.metadata import version as dist_version

            with quiet_stderr():
                program = et._load_program_from_buffer(data)
                method = program.load_method("forward")
            planned = list(method.method_meta().input_tensor_meta(0).sizes())
            version = f"executorch {dist_version('executorch')}"

            def call(arrays, keep=(data, program)):  # the program reads from these bytes: kept alive with it
                return [o.numpy() for o in method([torch.from_numpy(a) for a in arrays])]

    except Fail:
        raise
    except Exception as exc:  # the runtimes' errors share no useful base class
        raise Fail(EXIT_UNAVAILABLE, f"ExecuTorch cannot load the model: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}") from None
    chunk = planned[0] if side.get("batched") and planned else None
    fixed = chunk if side.get("batch") == "fixed" else None
    first = [True]
    plain_call = call

    def call(arrays):  # noqa: F811 - the first call quiet: XNNPACK probes the CPU then, on stderr
        if first[0]:
            first[0] = False
            with quiet_stderr():
                return plain_call(arrays)
        return plain_call(arrays)

    def run(feeds: dict) -> dict:
        arrays = [np.ascontiguousarray(feeds[n]) for n in side["inputs"]]
        if chunk is None:
            return dict(zip(side["outputs"], call(arrays)))
        parts = []
        for lo in range(0, max(len(arrays[0]), 1), chunk):
            part = [a[lo : lo + chunk] for a in arrays]
            rows = len(part[0])
            if fixed and rows < fixed:
                part = [np.ascontiguousarray(np.concatenate([p, np.repeat(p[-1:], fixed - rows, axis=0)])) for p in part]
            parts.append([o[:rows] if fixed and o.ndim and o.shape[0] == fixed else o for o in call([np.ascontiguousarray(p) for p in part])])
        return dict(zip(side["outputs"], [np.concatenate(p) for p in zip(*parts)]))

    return run, version


def litert_loader(data: bytes, threads: int | None):
    """LiteRT (ai-edge-litert + numpy): (run_feeds over the checked .tflite bytes, its version).
    Signatures name inputs and outputs as the ONNX model does (else args_N/output_N, taken in
    order); a static batch runs in chunks of it (the last padded), a batch-1 signature serves
    single rows; int8 inputs/outputs are (de)quantized with the tensor's scale and zero point."""
    try:
        import numpy as np
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as exc:
        raise Fail(EXIT_UNAVAILABLE, f"{exc.name} is not installed: pip install ai-edge-litert numpy") from None
    from importlib.metadata import version

    try:
        interp = Interpreter(model_content=data, num_threads=threads or 1)
        runners = [interp.get_signature_runner(k) for k in interp.get_signature_list()]
    except Exception as exc:  # noqa: BLE001 - the interpreter's errors share no useful base class
        raise Fail(EXIT_UNAVAILABLE, f"ai-edge-litert cannot load the model: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}") from None

    def batch_of(r):
        d = next(iter(r.get_input_details().values()))["shape_signature"]
        return int(d[0]) if len(d) and int(d[0]) > 0 else None

    def ordered(names):
        def key(n):
            tail = n.rsplit("_", 1)[-1]
            return (int(tail) if tail.isdigit() else -1, n)
        return sorted(names, key=key)

    def call(r, feeds):
        ins, outs = r.get_input_details(), r.get_output_details()
        names = list(feeds)
        if not set(names) <= set(ins):  # args_N: in the order the model takes them
            names = dict(zip(ordered(ins), names))
        else:
            names = {n: n for n in names}
        args = {}
        for tfl, name in names.items():
            d = ins[tfl]
            x = np.asarray(feeds[name])
            scale, zero = d["quantization"]
            if scale and np.dtype(d["dtype"]).kind in "iu":
                lim = np.iinfo(d["dtype"])
                x = np.clip(np.round(x.astype(np.float32) / scale + zero), lim.min, lim.max)
            args[tfl] = np.ascontiguousarray(x, dtype=d["dtype"])
        res = r(**args)
        out = {}
        for tfl, v in res.items():
            scale, zero = outs[tfl]["quantization"]
            if scale and v.dtype.kind in "iu":
                v = (v.astype(np.float32) - zero) * np.float32(scale)
            out[tfl] = np.array(v, copy=True)
        return out

    def run(feeds: dict) -> dict:
        first = next(iter(feeds.values()))
        n = first.shape[0] if first.ndim else 1
        dynamic = next((r for r in runners if batch_of(r) is None), None)
        if dynamic is not None:
            return call(dynamic, feeds)
        one = next((r for r in runners if batch_of(r) == 1), None)
        if n == 1 and one is not None:
            return call(one, feeds)
        big = max(runners, key=batch_of)
        b = batch_of(big)
        parts = []
        for lo in range(0, n, b):
            chunk = {k: v[lo:lo + b] for k, v in feeds.items()}
            rows = next(iter(chunk.values())).shape[0]
            if rows < b:
                chunk = {k: np.concatenate([v, np.repeat(v[-1:], b - rows, axis=0)]) for k, v in chunk.items()}
            parts.append({k: v[:rows] for k, v in call(big, chunk).items()})
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    try:
        ver = version("ai-edge-litert")
    except Exception:  # noqa: BLE001
        ver = "unknown"
    return run, ver


executorch_loader.sidecar = True  # gets the model's checked <file>.json as a third argument

# The manifest's "family" of each variant -> its loader: (checked bytes, threads) ->
# (run(feeds by input name) -> outputs by name, the runtime's version). Another family
# (litert, ...) is one loader function plus one line here; a loader with ``sidecar = True``
# also gets the model's <file>.json (checked against the manifest).
LOADERS = {"onnxruntime": ort_loader, "openvino": openvino_loader, "executorch": executorch_loader, "litert": litert_loader}
# A family whose model is more than one file: keyword -> the other file's suffix (beside the
# model, same stem); its bytes, checked against the manifest, go to the loader by keyword.
COMPANIONS = {"openvino": {"weights": ".bin"}}


def loader_for(manifest: dict, name: str, bundle: str | None = None):
    """The loader of the bundle file ``name``, by its variant's family (onnxruntime for
    bundles written before the manifest named families), with the bytes of its companion
    files (an OpenVINO .xml's .bin) read from ``bundle`` and checked against the manifest."""
    family = family_of(manifest, name)
    load = LOADERS.get(family)
    if load is None:
        raise Fail(EXIT_UNAVAILABLE, f"{name} is a {family} model; this predict.py loads {', '.join(LOADERS)} models")
    if getattr(load, "sidecar", False):
        try:
            side = json.loads(read_checked(bundle or ".", name + ".json", manifest["files"]).decode("utf-8"))
        except ValueError as exc:
            raise Fail(EXIT_ARTIFACT, f"{name}.json is corrupt: {exc}") from None
        return lambda data, threads: load(data, threads, side)
    extra = {key: read_checked(bundle or ".", os.path.splitext(name)[0] + suffix, manifest["files"]) for key, suffix in COMPANIONS.get(family, {}).items()}
    if extra:
        return lambda data, threads: load(data, threads, **extra)
    return load


def family_of(manifest: dict, name: str) -> str:
    family = "onnxruntime"
    for v in manifest.get("variants", []):
        if name in (v.get("file"), (v.get("ort") or {}).get("file")):
            family = v.get("family") or family
    return family


def run_model(data: bytes, rows, labels: dict, threads: int | None, load=ort_loader):
    """The classifier view: (labels, probabilities, runtime version, every output)."""
    import numpy as np

    run, version = load(data, threads)
    x = np.asarray(rows, dtype=np.float32)  # (rows, n_features)
    with np.errstate(over="ignore"):
        if not np.isfinite(x).all():
            raise Fail(EXIT_USAGE, "a value overflows float32")
    out = run({labels["input"]["name"]: x})
    logits = out[labels.get("logits") or next(iter(out))]
    probs = out[labels["probabilities"]] if labels.get("probabilities") else softmax(logits)
    label = out[labels["label"]] if labels.get("label") else logits.argmax(axis=1)
    return label.astype(np.int64), probs, version, out


def summary(out: dict, limit: int = 6) -> str:
    lines = []
    for name, a in out.items():
        flat = a.reshape(-1)
        head = ", ".join(str(v.item() if hasattr(v, "item") else v) for v in flat[:limit]) + (", ..." if flat.size > limit else "")
        lines.append(f"{name}  {a.dtype} {list(a.shape)}  [{head}]")
    return "\n".join(lines)


def table(label, probs, classes: list[str]) -> str:
    width = max(5, *(len(c) for c in classes))
    n_w = max(3, len(str(len(label))))
    lines = [f"{'row':>{n_w}}  {'class':<{width}}  " + "  ".join(f"{c:>{max(len(c), 6)}}" for c in classes)]
    for i, (lab, row) in enumerate(zip(label, probs), start=1):
        cells = "  ".join(f"{float(p):>{max(len(c), 6)}.4f}" for c, p in zip(classes, row))
        lines.append(f"{i:>{n_w}}  {classes[int(lab)]:<{width}}  {cells}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="predict.py", description="Classify rows with a model from this irisonnx edge bundle (numpy and the variant's runtime only).")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--values", help='one row, comma-separated in feature order, e.g. "5.1,3.5,1.4,0.2"')
    src.add_argument("--input", help="a CSV file (header matched by name, or values in feature order), or a .npz of arrays by input name (.npy for one input)")
    ap.add_argument("--output", help="write every output by name to this .npz file")
    ap.add_argument("--variant", help="which model of the bundle (default: the manifest's default_variant)")
    ap.add_argument("--ort", action="store_true", help="load the ORT-format twin (model.<variant>.ort)")
    ap.add_argument("--model", help="a model file of this bundle by name (overrides --variant)")
    ap.add_argument("--bundle", default=os.path.dirname(os.path.abspath(__file__)), help="the bundle folder (default: this script's folder)")
    ap.add_argument("--threads", type=int, help="the runtime's threads (onnxruntime intra-op, OpenVINO inference threads)")
    ap.add_argument("--json", action="store_true", help="print one JSON document")
    args = ap.parse_args(argv)
    arrays_in = args.input is not None and args.input.lower().endswith((".npz", ".npy"))
    try:
        if args.output is not None and not args.output.lower().endswith(".npz"):
            raise Fail(EXIT_USAGE, f"--output must name a .npz file, got {args.output!r}")
        manifest, labels = load_bundle(args.bundle)
        name = pick_model(manifest, args.variant, args.model, args.ort)
        data = read_checked(args.bundle, name, manifest["files"])
        if not labels.get("classifier", True):
            if not arrays_in:
                raise Fail(EXIT_USAGE, "this model is not a classifier: give its inputs as --input FILE.npz (arrays by input name; .npy for one input)")
            run, version = loader_for(manifest, name, args.bundle)(data, args.threads)
            out = tensor_outputs(run(read_arrays(args.input, labels["inputs"])))
            if args.output is not None:
                write_npz(args.output, out)
            if args.json:
                doc = {"model": name, "sha256": manifest["files"][name]["sha256"], family_of(manifest, name): version, "runtime": version, "outputs": {k: {"dtype": str(v.dtype), "shape": list(v.shape), "values": v.tolist()} for k, v in out.items()}, "written": args.output}
                print(json.dumps(doc, indent=2, sort_keys=True))
            else:
                print(summary(out))
                if args.output is not None:
                    print(f"wrote {len(out)} output(s) to {args.output}")
            return 0
        features, classes = labels["feature_names"], labels["class_names"]
        if arrays_in:
            rows = read_arrays(args.input, labels.get("inputs") or [labels["input"]])[labels["input"]["name"]]
        else:
            rows = parse_values(args.values, features) if args.values is not None else read_csv(args.input, features)
        label, probs, version, out = run_model(data, rows, labels, args.threads, loader_for(manifest, name, args.bundle))
        if args.output is not None:
            write_npz(args.output, tensor_outputs(out))
    except Fail as exc:
        print(f"predict.py: error: {exc}", file=sys.stderr)
        return exc.code
    if args.json:
        preds = [{"row": i + 1, "label": int(lab), "class": classes[int(lab)], "probabilities": {c: float(p) for c, p in zip(classes, row)}} for i, (lab, row) in enumerate(zip(label, probs))]
        doc = {"model": name, "sha256": manifest["files"][name]["sha256"], family_of(manifest, name): version, "runtime": version, "class_names": classes, "n_rows": len(preds), "predictions": preds}
        print(json.dumps(doc, indent=2, sort_keys=True))
    else:
        print(table(label, probs, classes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
