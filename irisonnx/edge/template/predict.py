#!/usr/bin/env python3
"""Run a model from this irisonnx edge bundle. Needs only onnxruntime and numpy (a LiteRT
variant, model.litert-*.tflite: ai-edge-litert and numpy instead).

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
probabilities per row, or --json; --output FILE.npz also writes every output by name. Exit codes: 0 ok; 2 bad usage or input; 3 corrupt or modified bundle; 4 onnxruntime
missing or unable to run the model.

(irisonnx copies this file verbatim into each bundle as predict.py; it must not import
irisonnx or anything beyond the standard library, numpy and the variant's runtime:
onnxruntime, or ai-edge-litert.)
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


# The manifest's "family" of each variant -> its loader: (checked bytes, threads) ->
# (run(feeds by input name) -> outputs by name, the runtime's version). Another family
# (openvino, litert, ...) is one loader function plus one line here.
LOADERS = {"onnxruntime": ort_loader, "litert": litert_loader}


def loader_for(manifest: dict, name: str):
    """The loader of the bundle file ``name``, by its variant's family (onnxruntime for
    bundles written before the manifest named families)."""
    family = "onnxruntime"
    for v in manifest.get("variants", []):
        if name in (v.get("file"), (v.get("ort") or {}).get("file")):
            family = v.get("family") or family
    load = LOADERS.get(family)
    if load is None:
        raise Fail(EXIT_UNAVAILABLE, f"{name} is a {family} model; this predict.py loads {', '.join(LOADERS)} models")
    return load


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
    ap = argparse.ArgumentParser(prog="predict.py", description="Classify rows with a model from this irisonnx edge bundle (onnxruntime + numpy only).")
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--values", help='one row, comma-separated in feature order, e.g. "5.1,3.5,1.4,0.2"')
    src.add_argument("--input", help="a CSV file (header matched by name, or values in feature order), or a .npz of arrays by input name (.npy for one input)")
    ap.add_argument("--output", help="write every output by name to this .npz file")
    ap.add_argument("--variant", help="which model of the bundle (default: the manifest's default_variant)")
    ap.add_argument("--ort", action="store_true", help="load the ORT-format twin (model.<variant>.ort)")
    ap.add_argument("--model", help="a model file of this bundle by name (overrides --variant)")
    ap.add_argument("--bundle", default=os.path.dirname(os.path.abspath(__file__)), help="the bundle folder (default: this script's folder)")
    ap.add_argument("--threads", type=int, help="onnxruntime intra-op threads")
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
            run, version = loader_for(manifest, name)(data, args.threads)
            out = tensor_outputs(run(read_arrays(args.input, labels["inputs"])))
            if args.output is not None:
                write_npz(args.output, out)
            if args.json:
                doc = {"model": name, "sha256": manifest["files"][name]["sha256"], "onnxruntime": version, "outputs": {k: {"dtype": str(v.dtype), "shape": list(v.shape), "values": v.tolist()} for k, v in out.items()}, "written": args.output}
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
        label, probs, version, out = run_model(data, rows, labels, args.threads, loader_for(manifest, name))
        if args.output is not None:
            write_npz(args.output, tensor_outputs(out))
    except Fail as exc:
        print(f"predict.py: error: {exc}", file=sys.stderr)
        return exc.code
    if args.json:
        preds = [{"row": i + 1, "label": int(lab), "class": classes[int(lab)], "probabilities": {c: float(p) for c, p in zip(classes, row)}} for i, (lab, row) in enumerate(zip(label, probs))]
        doc = {"model": name, "sha256": manifest["files"][name]["sha256"], "onnxruntime": version, "class_names": classes, "n_rows": len(preds), "predictions": preds}
        print(json.dumps(doc, indent=2, sort_keys=True))
    else:
        print(table(label, probs, classes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
