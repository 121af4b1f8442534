"""Hostile and corrupt files, wherever a user can hand one to irisonnx.

* Pickles (``torch.save`` .pt/.pth, raw pickles, object .npy) that create a canary file when
  unpickled: refused with exit 3 (2 for input data), and the canary never appears. A source
  scan proves nothing in irisonnx/ can unpickle.
* safetensors and ONNX files truncated at many offsets and with random bit flips, in a
  subprocess with a timeout (a native crash or a hang fails the test): every corruption of a
  file irisonnx wrote is caught by the manifest's sha256 (exit 3); without a manifest every
  truncation is caught by the parsers and the checks; bit flips are tallied.
* ONNX external data outside the model's folder: refused by inspect and compare before any
  onnxruntime session exists, without opening the outside file (an audit hook watches).
* ONNX models too large, with absurd or lying shapes, unknown operator domains: exit 3.
* .npy with object dtype, an oversized header or a header that lies, .npz: exit 2.
"""

from __future__ import annotations

import ast
import io
import json
import os
import pickle
import random
import resource
import shutil
import struct
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from onnx_helpers import cli, copy_run, exported_run, external_data_model, one_error_line
from reliability_helpers import HERE, SLOW, object_npy, pickle_bytes, sized, torch_pickle

ROW = "5.1,3.5,1.4,0.2"
PACKAGE = HERE.parent / "irisonnx"


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory, tiny_run: Path) -> Path:
    """The session's exported run (dynamo, with probabilities and label); read-only."""
    return exported_run(tmp_path_factory, tiny_run, "dynamo", True, True)[0]


def _fails(capsys: pytest.CaptureFixture, code: int, *argv: str) -> str:
    rc, _, err = cli(capsys, *argv)
    assert rc == code, (argv, rc, err)
    return one_error_line(err)


# --- nothing unpickles -------------------------------------------------------------------------

_PICKLERS = {"pickle", "_pickle", "cPickle", "cloudpickle", "dill", "joblib", "shelve", "marshal"}


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def scan_source(text: str, name: str = "<src>") -> list[str]:
    """Places that could unpickle: pickle-like imports, ``torch.load`` without
    ``weights_only=True``, ``allow_pickle`` other than a literal False, eval/exec."""
    problems = []
    for node in ast.walk(ast.parse(text)):
        where = f"{name}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import):
            problems += [f"{where}: import {a.name}" for a in node.names if a.name.split(".")[0] in _PICKLERS]
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if mod.split(".")[0] in _PICKLERS:
                problems.append(f"{where}: from {mod} import ...")
            if mod.split(".")[0] == "torch" and any(a.name == "load" for a in node.names):
                problems.append(f"{where}: from {mod} import load (hides torch.load from this scan)")
        elif isinstance(node, ast.Call):
            func = _dotted(node.func)
            kw = {k.arg: k.value for k in node.keywords}
            if func.split(".")[0] == "torch" and func.endswith(".load"):
                v = kw.get("weights_only")
                if not (isinstance(v, ast.Constant) and v.value is True):
                    problems.append(f"{where}: {func}() without weights_only=True")
            if "allow_pickle" in kw and not (isinstance(kw["allow_pickle"], ast.Constant) and kw["allow_pickle"].value is False):
                problems.append(f"{where}: allow_pickle other than False")
            if func.split(".")[0] in _PICKLERS:
                problems.append(f"{where}: {func}()")
            if func in ("eval", "exec", "builtins.eval", "builtins.exec"):
                problems.append(f"{where}: {func}()")
    return problems


def test_the_source_scan_catches_what_it_should() -> None:
    bad = "import pickle\nimport torch, numpy as np\nx = pickle.load(f)\ntorch.load(p)\ntorch.load(p, weights_only=False)\nnp.load(p, allow_pickle=True)\nnp.load(p, allow_pickle=flag)\neval('1')\nfrom torch import load\n"
    assert len(scan_source(bad)) == 8
    good = "import numpy as np, torch\nnp.load(p, allow_pickle=False)\ntorch.load(p, weights_only=True)\nmodel.eval()\n"
    assert scan_source(good) == []


def test_nothing_in_irisonnx_can_unpickle() -> None:
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 20
    problems = [p for f in files for p in scan_source(f.read_text(encoding="utf-8"), str(f.relative_to(PACKAGE.parent)))]
    assert problems == []
    raw = "\n".join(f.read_text(encoding="utf-8") for f in files)
    assert "allow_pickle=True" not in raw and "pickle.load" not in raw


@pytest.fixture
def armed(tmp_path: Path) -> dict[str, Path]:
    """Payloads that create ``canary`` when unpickled, proven live on a second canary."""
    import torch

    canary = tmp_path / "CANARY"
    live = tmp_path / "LIVE"
    pickle.loads(pickle_bytes(live))  # noqa: S301 - the control: the payload works
    assert live.exists()
    live.unlink()
    torch.load(torch_pickle(tmp_path / "control.pt", live), weights_only=False)  # noqa: S614
    assert live.exists()
    out = {"canary": canary, "pt": torch_pickle(tmp_path / "evil.pt", canary), "npy": object_npy(tmp_path / "evil.npy", canary)}
    out["pth"] = tmp_path / "evil.pth"
    shutil.copy(out["pt"], out["pth"])
    out["raw"] = tmp_path / "evil.pkl"
    out["raw"].write_bytes(pickle_bytes(canary))
    return out


def _forge(run: Path, rel: str) -> None:
    """Rewrite the manifest entry of ``rel`` to match the file, as an attacker would."""
    from irisonnx.storage import sha256_file

    mpath = run / "manifest.json"
    doc = json.loads(mpath.read_text())
    doc["files"][rel] = {"sha256": sha256_file(run / rel), "size": (run / rel).stat().st_size}
    mpath.write_text(json.dumps(doc))


def test_pickled_weights_and_checkpoints_are_refused_without_unpickling(full: Path, tmp_path: Path, armed: dict[str, Path], iris, capsys: pytest.CaptureFixture) -> None:
    canary = armed["canary"]
    out = tmp_path / "out.onnx"
    for payload in ("pt", "raw"):
        for forged in (False, True):
            run = copy_run(full, tmp_path / f"weights-{payload}-{forged}")
            shutil.copy(armed[payload], run / "model.safetensors")
            if forged:
                _forge(run, "model.safetensors")
            for argv in (["verify", str(run)], ["export", str(run), "--out", str(out)], ["compare", str(run), "--runtimes", "torch,ort-cpu", "-q"]):
                line = _fails(capsys, 3, *argv)
                assert ("corrupt or not a safetensors file" if forged else "weights file is corrupt or was modified") in line, line
    # The newest checkpoint: unlisted (a resume parses it), then listed with a forged entry.
    run = copy_run(full, tmp_path / "ckpt")
    evil_ckpt = run / "checkpoints" / "epoch-0035.safetensors"
    shutil.copy(armed["pt"], evil_ckpt)
    train = ["train", "--data", str(iris.dir), "--run", str(run), "--epochs", "40", "--quiet"]
    assert "checkpoint is corrupt or not a safetensors file" in _fails(capsys, 3, *train)
    assert "checkpoint not in the manifest" in _fails(capsys, 3, "verify", str(run))
    _forge(run, "checkpoints/epoch-0035.safetensors")
    assert "checkpoint is corrupt or not a safetensors file" in _fails(capsys, 3, "verify", str(run))
    assert "checkpoint is corrupt or not a safetensors file" in _fails(capsys, 3, *train)
    assert not canary.exists()


def test_pickled_models_and_inputs_are_refused_without_unpickling(full: Path, tmp_path: Path, armed: dict[str, Path], iris, capsys: pytest.CaptureFixture) -> None:
    canary = armed["canary"]
    as_onnx = tmp_path / "model.onnx"
    shutil.copy(armed["pt"], as_onnx)
    for model in (armed["pt"], armed["pth"], armed["raw"], as_onnx):
        assert "not an ONNX model" in _fails(capsys, 3, "predict", str(model), "--values", ROW)
        assert "not an ONNX model" in _fails(capsys, 3, "inspect", str(model))
        assert "not an ONNX model" in _fails(capsys, 3, "compare", str(model), "-q")
        assert "not an ONNX model" in _fails(capsys, 3, "compare", str(full), "--model", str(model), "-q")
    # Input data: object .npy, a pickle under an .npy name, a .pt as input: exit 2.
    as_npy = tmp_path / "pickle.npy"
    shutil.copy(armed["raw"], as_npy)
    for data in (armed["npy"], as_npy):
        assert "is not a numeric .npy array" in _fails(capsys, 2, "predict", str(full), "--input", str(data))
        assert "is not a numeric .npy array" in _fails(capsys, 2, "compare", str(full), "--runtimes", "torch,ort-cpu", "--inputs", str(data), "-q")
    assert "unknown input format" in _fails(capsys, 2, "predict", str(full), "--input", str(armed["pt"]))
    # A processed dataset whose features.npy holds objects, its meta.json checksum forged.
    ds = tmp_path / "ds"
    shutil.copytree(iris.dir, ds)
    shutil.copy(armed["npy"], ds / "features.npy")
    meta = json.loads((ds / "meta.json").read_text())
    from irisonnx.storage import sha256_file

    meta["files"]["features.npy"] = sha256_file(ds / "features.npy")
    (ds / "meta.json").write_text(json.dumps(meta))
    assert "dataset file is not a plain .npy array" in _fails(capsys, 3, "train", "--data", str(ds), "--run", str(tmp_path / "run"), "--quiet")
    # A golden set (compare --load-io) whose inputs.npy holds objects, its index forged.
    gold = tmp_path / "gold"
    rc, _, err = cli(capsys, "compare", str(full / "model.onnx"), "--runtimes", "ort-cpu,reference", "--inputs", "random:5", "--save-io", str(gold), "-q")
    assert rc == 0, err
    index = json.loads((gold / "index.json").read_text())
    (entry,) = index["inputs"]["tensors"]["features"]
    shutil.copy(armed["npy"], gold / entry["file"])
    entry["sha256"] = sha256_file(gold / entry["file"])
    (gold / "index.json").write_text(json.dumps(index))
    assert "golden file is not a plain .npy array" in _fails(capsys, 3, "compare", str(full / "model.onnx"), "--runtimes", "ort-cpu", "--load-io", str(gold), "-q")
    assert not canary.exists()


# --- truncations and bit flips, in a subprocess ------------------------------------------------------


def _varint(data: bytes, i: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        b = data[i]
        value |= (b & 0x7F) << shift
        i += 1
        if not b & 0x80:
            return value, i
        shift += 7


def field_ends(data: bytes) -> list[int]:
    """Offsets where a top-level protobuf field ends: cut there, a model still parses."""
    ends, i = [], 0
    while i < len(data):
        key, i = _varint(data, i)
        wire = key & 7
        if wire == 0:
            _, i = _varint(data, i)
        elif wire == 2:
            n, i = _varint(data, i)
            i += n
        elif wire in (1, 5):
            i += 8 if wire == 1 else 4
        else:
            break
        ends.append(i)
    return ends


def _safetensors_mutations(data: bytes, rng: random.Random) -> tuple[list[list], list[list]]:
    n = struct.unpack("<Q", data[:8])[0]
    cuts = {0, 1, 7, 8, 9, 8 + n // 2, 8 + n - 1, 8 + n, 8 + n + 1, (8 + n + len(data)) // 2, len(data) - 1}
    cuts |= set(rng.sample(range(len(data)), sized(8, 150)))
    k = sized(8, 150)
    flips = [rng.randrange(8 + n) for _ in range(k)] + [rng.randrange(8 + n, len(data)) for _ in range(k)]
    return [["truncate", c] for c in sorted(cuts)], [["flip", b, rng.randrange(8)] for b in flips]


def _onnx_mutations(data: bytes, rng: random.Random) -> tuple[list[list], list[list]]:
    cuts = {0, 1, 8, len(data) // 2, len(data) - 1} | {e for e in field_ends(data) if e < len(data)}
    cuts |= set(range(len(data))) if SLOW else set(rng.sample(range(len(data)), 8))
    flips = [["flip", rng.randrange(len(data)), rng.randrange(8)] for _ in range(sized(24, 1000))]
    return [["truncate", c] for c in sorted(cuts)], flips


def _sweep(jobs: list[dict], tmp_path: Path, timeout: float = 900) -> list[dict]:
    spec = tmp_path / "jobs.json"
    spec.write_text(json.dumps(jobs))

    def limit_memory() -> None:  # a lying shape must fail, not eat the machine
        resource.setrlimit(resource.RLIMIT_AS, (16 << 30, 16 << 30))

    r = subprocess.run([sys.executable, str(HERE / "reliability_sweep.py"), str(spec)], capture_output=True, text=True, timeout=timeout, preexec_fn=limit_memory)
    results = [json.loads(line) for line in r.stdout.splitlines() if line.startswith("{")]
    assert r.returncode == 0, f"sweep crashed (exit {r.returncode}) after {results[-1] if results else 'nothing'}: {r.stderr[-2000:]}"
    assert len(results) == sum(len(j["mutations"]) * len(j["commands"]) for j in jobs)
    return results


def test_truncations_and_bit_flips_are_detected(full: Path, tmp_path: Path, iris) -> None:
    rng = random.Random(7)
    listed = copy_run(full, tmp_path / "listed")
    ckpt = "checkpoints/epoch-0030.safetensors"
    unlisted = copy_run(full, tmp_path / "unlisted")  # the newest checkpoint, as if killed before its manifest save
    doc = json.loads((unlisted / "manifest.json").read_text())
    del doc["files"][ckpt]
    (unlisted / "manifest.json").write_text(json.dumps(doc))
    forged = copy_run(full, tmp_path / "forged")
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(full / "model.onnx", bare / "model.onnx")

    def train(run: Path) -> list[str]:
        return ["train", "--data", str(iris.dir), "--run", str(run), "--epochs", "30", "--quiet"]

    w_cut, w_flip = _safetensors_mutations((full / "model.safetensors").read_bytes(), rng)
    c_cut, c_flip = _safetensors_mutations((full / ckpt).read_bytes(), rng)
    o_cut, o_flip = _onnx_mutations((full / "model.onnx").read_bytes(), rng)
    out = str(tmp_path / "out.onnx")
    jobs = [
        # Files irisonnx wrote, listed in the manifest: every change is caught by sha256.
        {"name": "listed weights", "target": str(listed / "model.safetensors"), "mutations": w_cut + w_flip, "commands": [["verify", str(listed)], ["export", str(listed), "--out", out]]},
        {"name": "listed checkpoint", "target": str(listed / ckpt), "mutations": c_cut + c_flip, "commands": [["verify", str(listed)], train(listed)]},
        {"name": "listed model", "target": str(listed / "model.onnx"), "mutations": o_cut + o_flip, "commands": [["predict", str(listed), "--values", ROW], ["inspect", str(listed)], ["compare", str(listed), "--runtimes", "torch,ort-cpu", "--inputs", "random:8", "-q"]]},
        # No manifest to help: the parsers and checks alone.
        {"name": "unlisted checkpoint", "target": str(unlisted / ckpt), "mutations": c_cut + c_flip, "commands": [train(unlisted)]},
        {"name": "forged weights", "target": str(forged / "model.safetensors"), "forge": "model.safetensors", "mutations": w_cut + w_flip, "commands": [["verify", str(forged)]]},
        {"name": "forged checkpoint", "target": str(forged / ckpt), "forge": ckpt, "mutations": c_cut + c_flip, "commands": [["verify", str(forged)]]},
        {"name": "bare model", "target": str(bare / "model.onnx"), "mutations": o_cut + o_flip, "commands": [["inspect", str(bare / "model.onnx")], ["predict", str(bare / "model.onnx"), "--values", ROW]]},
    ]
    results = _sweep(jobs, tmp_path)
    w_data = 8 + struct.unpack("<Q", (full / "model.safetensors").read_bytes()[:8])[0]
    tally: dict[str, dict[str, int]] = {}
    for r in results:
        kind = "truncation" if r["m"][0] == "truncate" else "flip"
        t = tally.setdefault(f"{r['job']} {kind}", {"cases": 0, "detected": 0})
        t["cases"] += 1
        t["detected"] += r["code"] != 0
        assert r["code"] in (0, 1, 3), r
        if r["code"] != 0:
            one_error_line(r["err"])
        if r["job"].startswith("listed") or kind == "truncation":
            assert r["code"] == 3, r  # the manifest, or the parsers for every truncation
        if r["job"] == "forged weights" and r["m"][0] == "flip" and r["m"][1] >= w_data:
            assert r["code"] == 1, r  # a flipped weight parses, and verify finds it differs from the checkpoint
    print("\ncorruptions (cases/detected): " + "; ".join(f"{k} {v['detected']}/{v['cases']}" for k, v in sorted(tally.items())))


# --- external data outside the folder ---------------------------------------------------------


_OPENED: list[str] = []
_RECORDING: list[bool] = []
_HOOKED: list[bool] = []


def _audit(event: str, args: tuple) -> None:
    if event == "open" and _RECORDING and isinstance(args[0], (str, bytes, os.PathLike)):
        _OPENED.append(os.fsdecode(args[0]))


def test_external_data_outside_the_folder_is_refused_by_inspect_and_compare(full: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """test_predict covers predict; here inspect, compare and compare --model, plus more
    spellings of 'outside'. No onnxruntime session may be created, no outside file opened."""
    import onnxruntime

    if not _HOOKED:  # audit hooks cannot be removed: one for the session, idle unless recording
        sys.addaudithook(_audit)
        _HOOKED.append(True)
    src = full / "model.onnx"
    outside_dir = tmp_path / "outside"
    outside = outside_dir / "weights.bin"
    cases = {
        "dotdot": external_data_model(src, tmp_path / "dotdot", "../outside/weights.bin", payload_path=outside),
        "nested-dotdot": external_data_model(src, tmp_path / "nested", "sub/../../outside/weights.bin", payload_path=outside),
        "backslash": external_data_model(src, tmp_path / "backslash", "..\\outside\\weights.bin", payload_path=outside),
        "absolute": external_data_model(src, tmp_path / "absolute", str(outside)),
    }
    link = tmp_path / "link"
    link.mkdir()
    os.symlink(outside, link / "weights.bin")
    cases["symlink"] = external_data_model(src, link, "weights.bin")
    linked_dir = tmp_path / "linkdir"
    linked_dir.mkdir()
    os.symlink(outside_dir, linked_dir / "data")
    cases["symlinked-folder"] = external_data_model(src, linked_dir, "data/weights.bin")
    safe = external_data_model(src, tmp_path / "safe", "weights.bin")

    def no_session(*a: Any, **kw: Any) -> None:
        raise AssertionError("an onnxruntime session was created for an unsafe model")

    monkeypatch.setattr(onnxruntime, "InferenceSession", no_session)
    _OPENED.clear()
    _RECORDING.append(True)
    try:
        for name, model in cases.items():
            for argv in (["inspect", str(model)], ["compare", str(model), "--runtimes", "ort-cpu,reference", "--inputs", "random:4", "-q"], ["compare", str(full), "--model", str(model), "--runtimes", "torch,ort-cpu", "-q"]):
                line = _fails(capsys, 3, *argv)
                assert "unsafe ONNX model" in line, (name, line)
    finally:
        _RECORDING.clear()
    real_outside = os.path.realpath(outside_dir)
    assert not [p for p in _OPENED if os.path.realpath(p).startswith(real_outside)], "an outside file was opened"
    monkeypatch.undo()
    rc, out, err = cli(capsys, "inspect", str(safe))
    assert rc == 0 and "(+ external data)" in out, err  # the control: inside the folder is fine


# --- models that are too large, lie about their shapes, or need custom ops ----------------------------


def _save(model: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.SerializeToString())
    return path


def _with_meta(model: Any, drop: tuple[str, ...] = (), **meta: str) -> Any:
    props = {p.key: p.value for p in model.metadata_props if p.key not in drop}
    props.update(meta)
    del model.metadata_props[:]
    for k, v in props.items():
        model.metadata_props.add(key=k, value=v)
    return model


def _identity_model(n: int) -> Any:
    """features [batch, n] -> logits [batch, n]: valid ONNX whatever n says."""
    g = helper.make_graph([helper.make_node("Identity", ["features"], ["logits"])], "g", [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", n])], [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", n])])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 18)])


def _bad_models(full: Path, d: Path) -> dict[str, tuple[Path, str]]:
    src = full / "model.onnx"

    def edited(name: str, edit: Any) -> Path:
        m = onnx.load(str(src))
        edit(m)
        return _save(m, d / f"{name}.onnx")

    def dim(vi: Any, i: int, v: int) -> None:
        vi.type.tensor_type.shape.dim[i].dim_value = v

    def custom_domain(m: Any) -> None:
        m.graph.node[-1].domain = "evil.custom"
        m.opset_import.append(helper.make_opsetid("evil.custom", 1))

    def unknown_op(m: Any) -> None:
        m.graph.node[-1].op_type = "EvilOp"

    def input_lie(m: Any) -> None:
        dim(m.graph.input[0], 1, 5)
        _with_meta(m, n_features="5", feature_names='["a","b","c","d","e"]')

    def output_lie(m: Any) -> None:
        dim(m.graph.output[0], 1, 10)
        _with_meta(m, n_classes="10", class_names=json.dumps([f"c{i}" for i in range(10)]))

    def fixed_batch(m: Any) -> None:
        dim(m.graph.input[0], 0, 1)

    def huge_initializer(m: Any) -> None:
        m.graph.initializer[0].dims[0] = 10**12

    out = {
        "unknown domain": (edited("domain", custom_domain), "uses operator domain(s) 'evil.custom'"),
        "unknown op": (edited("op", unknown_op), "No Op registered for EvilOp"),
        "input lies about its width": (edited("input-lie", input_lie), "invalid ONNX model"),
        "output lies about its classes": (edited("output-lie", output_lie), "Inferred shape and existing shape differ"),
        "fixed batch": (edited("batch", fixed_batch), "has a fixed batch size 1"),  # says it is irisonnx's: must be its kind
        "initializer claims 4 TB": (edited("init", huge_initializer), "too small for the declared shape"),
        "metadata cut short": (edited("cut", lambda m: _with_meta(m, drop=("exporter", "opset"))), "incomplete irisonnx model"),
        "metadata gone, doc string left": (edited("gone", lambda m: _with_meta(m, drop=tuple(p.key for p in m.metadata_props))), "incomplete irisonnx model"),
    }
    big = d / "big.onnx"
    with open(big, "wb") as fh:  # sparse: 300 MB on paper, nothing on disk
        fh.write(src.read_bytes())
        fh.truncate(300 << 20)
    out["300 MB file"] = (big, "model file too large")
    ext_dir = d / "ext"
    m = external_data_model(src, ext_dir, "weights.bin")
    with open(ext_dir / "weights.bin", "r+b") as fh:
        fh.truncate(300 << 20)
    proto = onnx.load(str(m), load_external_data=False)
    for e in proto.graph.initializer[0].external_data:
        if e.key == "length":
            e.value = str(300 << 20)
    out["300 MB of external data"] = (_save(proto, ext_dir / "model.onnx"), "external data exceeds")
    return out


def test_models_too_large_lying_or_custom_are_refused_in_bounded_memory(full: Path, tmp_path: Path) -> None:
    """In a subprocess with a 16 GiB address-space limit and a timeout: a model that claims
    1e12 features once made irisonnx build 1e12 names."""
    cases = _bad_models(full, tmp_path / "models")
    jobs = [
        {"name": name, "target": str(path), "mutations": [["none"]], "commands": [["inspect", str(path)], ["predict", str(path), "--values", ROW], ["compare", str(path), "--inputs", "random:4", "-q"]]}
        for name, (path, _) in cases.items()
    ]
    for r in _sweep(jobs, tmp_path, timeout=600):
        msg = cases[r["job"]][1]
        assert r["code"] == 3, r
        assert msg in one_error_line(r["err"]), (r["job"], r["err"])


def test_foreign_shapes_are_described_run_or_refused_in_bounded_memory(full: Path, tmp_path: Path) -> None:
    """Models that are valid ONNX but not irisonnx's classifier kind: any model is taken now.
    A fixed batch of 1 is fed row by row; an input of 1e12 features is described by inspect,
    and random inputs for it are refused (exit 2) before anything is allocated."""
    d = tmp_path / "models"
    d.mkdir()
    m = onnx.load(str(full / "model.onnx"))
    m.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 1
    del m.metadata_props[:]  # a foreign model (one that says it is irisonnx's must be its kind: exit 3 above)
    m.doc_string = ""
    fixed = _save(m, d / "fixed.onnx")
    absurd = _save(_identity_model(10**12), d / "absurd.onnx")
    jobs = [
        {"name": "fixed", "target": str(fixed), "mutations": [["none"]], "commands": [["inspect", str(fixed)], ["compare", str(fixed), "--inputs", "random:4", "--runtimes", "ort-cpu,reference", "-q"]]},
        {"name": "absurd", "target": str(absurd), "mutations": [["none"]], "commands": [["inspect", str(absurd)], ["compare", str(absurd), "--inputs", "random:4", "-q"], ["predict", str(absurd), "--values", ROW], ["predict", str(absurd), "--values", ROW, "--classify", "logits"]]},
    ]
    got = {(r["job"], r["argv"]): r for r in _sweep(jobs, tmp_path, timeout=600)}
    assert got[("fixed", 0)]["code"] == 0, got[("fixed", 0)]
    assert got[("fixed", 1)]["code"] == 0, got[("fixed", 1)]
    assert got[("absurd", 0)]["code"] == 0, got[("absurd", 0)]
    assert got[("absurd", 1)]["code"] == 2 and "GiB" in one_error_line(got[("absurd", 1)]["err"]), got[("absurd", 1)]
    assert got[("absurd", 2)]["code"] == 2 and "not a classifier" in one_error_line(got[("absurd", 2)]["err"]), got[("absurd", 2)]
    assert got[("absurd", 3)]["code"] == 2 and "--input FILE.npz" in one_error_line(got[("absurd", 3)]["err"]), got[("absurd", 3)]  # no name per feature


# --- .npy and .npz -----------------------------------------------------------------------------------


def _npy(shape: tuple, data: bytes = b"\0" * 16, pad: int = 0) -> bytes:
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': %r, }" % (shape,) + " " * pad
    header += " " * (63 - (len(header) + 12) % 64) + "\n"
    return b"\x93NUMPY\x02\x00" + struct.pack("<I", len(header)) + header.encode() + data


def test_bad_npy_and_npz_inputs_exit_2(full: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    good = io.BytesIO()
    np.save(good, np.ones((2, 4), np.float32))
    npz = io.BytesIO()
    np.savez(npz, x=np.ones((2, 4), np.float32))
    files = {
        "oversized header": (_npy((1, 4), pad=200_000), "is large and may not be safe"),
        "header claims 1.5 TiB": (_npy((10**11, 4)), "is not a numeric .npy array"),
        "truncated": (good.getvalue()[:-3], "is not a numeric .npy array"),
        "empty file": (b"", "is not a numeric .npy array"),
        "npz under an .npy name": (npz.getvalue(), "is not a single .npy array"),
    }
    for name, (blob, msg) in files.items():
        path = tmp_path / f"{name.replace(' ', '-')}.npy"
        path.write_bytes(blob)
        assert msg in _fails(capsys, 2, "predict", str(full), "--input", str(path)), name
        assert msg in _fails(capsys, 2, "compare", str(full), "--runtimes", "torch,ort-cpu", "--inputs", str(path), "-q"), name
    real_npz = tmp_path / "rows.npz"
    real_npz.write_bytes(npz.getvalue())
    # predict and compare take .npz (arrays by input name): one whose array is not named after the input says so
    assert "no array for input(s) 'features'" in _fails(capsys, 2, "predict", str(full), "--input", str(real_npz))
    assert "no array for input(s) 'features'" in _fails(capsys, 2, "compare", str(full), "--runtimes", "torch,ort-cpu", "--inputs", str(real_npz), "-q")
