"""Coverage-guided fuzzing of the loaders a user feeds files to (not part of CI).

Targets (each takes arbitrary bytes; only irisonnx's own errors, IrisOnnxError with its exit
code, are allowed out; anything else, a hang or a native crash is a finding):

    csv-data     irisonnx.data.datastore.parse_csv: the CSV behind ``irisonnx data --csv``
    csv-predict  irisonnx.data.predict_io.read_csv: ``irisonnx predict --input rows.csv``
    npy          irisonnx.compare.inputs.read_rows: ``predict --input``/``compare --inputs`` .npy and .csv checks
    onnx         irisonnx.modelfile.onnx_io.load_model_safely + describe: every command that opens a model;
                 with --session, models it accepts are also given to onnxruntime

Engine: atheris (libFuzzer) when it imports; it is not a project dependency, so install it
beside the project rather than into the shared venv, e.g.

    python -m pip install --target /tmp/atheris atheris
    PYTHONPATH=/tmp/atheris .venv/bin/python fuzz/fuzz_loaders.py onnx -max_total_time=120

Without atheris (or with --engine random) a seeded random mutator runs the same targets
from the same seeds for --seconds. Either way: exit 0 and a summary line when nothing was
found; a crash input is written to fuzz/crashes/.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
SCRATCH = Path(tempfile.mkdtemp(prefix="irisonnx-fuzz-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None))


def _import_targets(instrument: Any = None) -> None:
    ctx = instrument() if instrument else None
    if ctx:
        ctx.__enter__()
    try:
        import irisonnx.data.datastore  # noqa: F401
        import irisonnx.compare.inputs  # noqa: F401
        import irisonnx.modelfile.onnx_io  # noqa: F401
        import irisonnx.data.predict_io  # noqa: F401
    finally:
        if ctx:
            ctx.__exit__(None, None, None)


# --- seeds --------------------------------------------------------------------------------------


def _onnx_seed() -> bytes:
    """A small irisonnx-shaped MLP (Sub, Div, Gemm, Relu, Gemm) with full metadata; no torch."""
    import json

    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(np.array([5.8, 3.0, 3.7, 1.2], np.float32), "mean"),
        numpy_helper.from_array(np.array([0.8, 0.4, 1.7, 0.7], np.float32), "std"),
        numpy_helper.from_array(rng.normal(size=(16, 4)).astype(np.float32), "w1"),
        numpy_helper.from_array(np.zeros(16, np.float32), "b1"),
        numpy_helper.from_array(rng.normal(size=(3, 16)).astype(np.float32), "w2"),
        numpy_helper.from_array(np.zeros(3, np.float32), "b2"),
    ]
    nodes = [
        helper.make_node("Sub", ["features", "mean"], ["c"]),
        helper.make_node("Div", ["c", "std"], ["z"]),
        helper.make_node("Gemm", ["z", "w1", "b1"], ["h"], transB=1),
        helper.make_node("Relu", ["h"], ["r"]),
        helper.make_node("Gemm", ["r", "w2", "b2"], ["logits"], transB=1),
    ]
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", 4])], [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 3])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], producer_name="fuzz")
    model.doc_string = "irisonnx MLP classifier for the 'iris' dataset (fuzz seed)"
    meta = {"format": "irisonnx-model/1", "dataset": "iris", "class_names": json.dumps(["setosa", "versicolor", "virginica"]), "feature_names": json.dumps(FEATURES), "feature_units": json.dumps({f: "cm" for f in FEATURES}), "n_features": "4", "n_classes": "3", "weights_sha256": "0" * 64, "data_sha256": "0" * 64, "irisonnx_version": "0", "torch_version": "0", "onnx_version": "0", "training_config": "{}", "exporter": "torchscript", "opset": "18"}
    for k, v in meta.items():
        model.metadata_props.add(key=k, value=v)
    return model.SerializeToString()


def _npy_seeds() -> list[bytes]:
    import io

    import numpy as np

    out = []
    for arr in (np.ones((2, 4), np.float32), np.arange(8, dtype=np.float64).reshape(2, 4), np.ones((1, 4), np.int32), np.asfortranarray(np.ones((3, 4), np.float32)), np.zeros((0, 4), np.float32)):
        buf = io.BytesIO()
        np.save(buf, arr)
        out.append(buf.getvalue())
    return out


def seeds(target: str) -> list[bytes]:
    iris = (ROOT / "datastore" / "raw" / "iris.csv").read_bytes()
    if target == "csv-data":
        return [iris[:600], b"a,b,species\n1,2,x\n3,4,x\n5,6,y\n7,8,y\n", b'"a","b",species\r\n1e3,-2,"p q"\r\n']
    if target == "csv-predict":
        return [b"5.1,3.5,1.4,0.2\n6.2,2.9,4.3,1.3\n", b"petal_width,sepal_length,sepal_width,petal_length,x\n0.2,5.1,3.5,1.4,y\n", b"\xef\xbb\xbfsepal_length,sepal_width,petal_length,petal_width\r\n1,2,3,4\r\n"]
    if target == "npy":
        return _npy_seeds()
    return [_onnx_seed()]


# --- targets ------------------------------------------------------------------------------------


def make_target(name: str, session: bool = False) -> Callable[[bytes], None]:
    from irisonnx.errors import IrisOnnxError

    path = SCRATCH / {"csv-data": "in.csv", "csv-predict": "rows.csv", "npy": "rows.npy", "onnx": "model.onnx"}[name]

    def csv_data(data: bytes) -> None:
        from irisonnx.data.datastore import parse_csv

        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            return  # read_source_csv: exit 2
        try:
            parsed = parse_csv(text, "species")
        except IrisOnnxError:
            return
        import numpy as np

        assert parsed.features.dtype == np.float32 and np.isfinite(parsed.features).all()
        assert parsed.features.shape == (len(parsed.labels), len(parsed.feature_names)) and len(parsed.class_names) >= 2

    def csv_predict(data: bytes) -> None:
        from irisonnx.data.predict_io import read_input

        path.write_bytes(data)
        try:
            rows = read_input(path, FEATURES)
        except IrisOnnxError:
            return
        import numpy as np

        assert rows.x.dtype == np.float32 and rows.x.shape[1] == 4 and np.isfinite(rows.x).all()

    def npy(data: bytes) -> None:
        from irisonnx.compare.inputs import read_rows

        path.write_bytes(data)
        try:
            x = read_rows(path, FEATURES)
        except IrisOnnxError:
            return
        import numpy as np

        assert x.dtype == np.float32 and x.ndim == 2 and x.shape[1] == 4 and x.shape[0] >= 1 and np.isfinite(x).all()

    def onnx_model(data: bytes) -> None:
        from irisonnx.modelfile.onnx_io import describe, load_model_safely

        path.write_bytes(data)
        try:
            info = load_model_safely(path)
            describe(info)
        except IrisOnnxError:
            return
        if session:
            from irisonnx.runtimes.ort_engine import Predictor

            try:
                Predictor(info, threads=1).predict_logits([[5.1, 3.5, 1.4, 0.2]])
            except IrisOnnxError:
                return

    return {"csv-data": csv_data, "csv-predict": csv_predict, "npy": npy, "onnx": onnx_model}[name]


# --- engines ------------------------------------------------------------------------------------


def run_atheris(target: str, argv: list[str], session: bool) -> int:
    import atheris

    _import_targets(atheris.instrument_imports)
    fn = make_target(target, session)
    corpus = HERE / "corpus" / target
    corpus.mkdir(parents=True, exist_ok=True)
    for i, s in enumerate(seeds(target)):
        (corpus / f"seed-{i}").write_bytes(s)
    crashes = HERE / "crashes"
    crashes.mkdir(exist_ok=True)
    atheris.Setup([sys.argv[0], *argv, f"-artifact_prefix={crashes}/{target}-", "-timeout=20", "-rss_limit_mb=4096", str(corpus)], fn)
    atheris.Fuzz()
    return 0


def _mutate(rng: random.Random, data: bytes, pool: list[bytes]) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        op = rng.randrange(6)
        if op == 0 and b:
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        elif op == 1:
            b.insert(rng.randrange(len(b) + 1), rng.randrange(256))
        elif op == 2 and b:
            del b[rng.randrange(len(b))]
        elif op == 3 and b:
            del b[rng.randrange(len(b)) :]
        elif op == 4:
            i = rng.randrange(len(b) + 1)
            b[i:i] = rng.choice([b",", b"\n", b'"', b"nan", b"1e39", b"\x00", b"\xff\xfe", b"-", b"{", b"}", b"'shape': (99999999999, 4)", rng.choice(pool)[:64]])
        elif b:
            i, j = sorted(rng.randrange(len(b)) for _ in range(2))
            b[i:i] = b[i:j]
    return bytes(b)


def run_random(target: str, seconds: float, seed: int, session: bool) -> int:
    """The fallback engine: seeded random mutations of the seeds, for a fixed time."""
    _import_targets()
    fn = make_target(target, session)
    rng = random.Random(seed)
    pool = seeds(target)
    deadline = time.monotonic() + seconds
    n = crashes = 0
    while time.monotonic() < deadline:
        data = _mutate(rng, rng.choice(pool), pool) if rng.random() < 0.9 else rng.randbytes(rng.randrange(256))
        n += 1
        try:
            fn(data)
        except Exception as exc:  # noqa: BLE001 - a finding
            crashes += 1
            out = HERE / "crashes"
            out.mkdir(exist_ok=True)
            (out / f"{target}-random-{n}").write_bytes(data)
            print(f"CRASH {type(exc).__name__}: {exc}", file=sys.stderr)
        if n % 200 == 0 and rng.random() < 0.5:
            pool.append(data)  # keep some mutants as seeds
    print(f"{target}: {n:,} executions in {seconds:.0f} s (random engine), {crashes} crashes")
    return 1 if crashes else 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("target", choices=["csv-data", "csv-predict", "npy", "onnx"])
    p.add_argument("--engine", choices=["auto", "atheris", "random"], default="auto")
    p.add_argument("--seconds", type=float, default=60, help="random engine: time budget")
    p.add_argument("--seed", type=int, default=0, help="random engine: RNG seed")
    p.add_argument("--session", action="store_true", help="onnx: also create an onnxruntime session for accepted models")
    args, rest = p.parse_known_args()
    import logging
    import warnings

    warnings.simplefilter("ignore")
    logging.disable(logging.CRITICAL)
    engine = args.engine
    if engine == "auto":
        try:
            import atheris  # noqa: F401

            engine = "atheris"
        except ImportError:
            engine = "random"
    if engine == "atheris":
        return run_atheris(args.target, rest or [f"-max_total_time={int(args.seconds)}"], args.session)
    return run_random(args.target, args.seconds, args.seed, args.session)


if __name__ == "__main__":
    sys.exit(main())
