"""The test corpus's own sanity check (tests/corpus.py): every model loads in onnxruntime and gives
the expected outputs, which come from sklearn, torch eager, numpy or the ONNX test case itself;
the backend cases on disk read back (through irisonnx.data.io_formats) exactly as onnx generated them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from corpus import BACKEND_ATOL, BACKEND_CORE, BACKEND_RTOL, Corpus, _import_file, assert_backend_close, corpus  # noqa: F401
from irisonnx.data.io_formats import read_onnx_test_data

HERE = Path(__file__).resolve().parent


def _session(path: Path) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.log_severity_level = 3
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def _run(path: Path, feed: dict[str, np.ndarray]) -> dict[str, object]:
    sess = _session(path)
    return dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feed)))


def _close(m, got: dict[str, object]) -> None:
    names = list(m.expected)
    rtol, atol = (m.rtol, m.atol) if m.group == "backend" else (1e-4, 1e-5)
    assert_backend_close(m.name, [np.asarray(got[k]) for k in names], [m.expected[k] for k in names], rtol, atol)


def test_the_corpus_has_every_kind_of_model_the_issue_lists(corpus: Corpus) -> None:
    assert {m.name for m in corpus.group("sklearn")} == {"sk_logreg", "sk_logreg_zipmap", "sk_forest", "sk_forest_zipmap"}
    assert {m.name for m in corpus.group("torch")} == {"cnn", "encoder"}
    assert {m.name for m in corpus.group("onnx")} == {"two_inputs", "fixed_batch", "transpose", "gemm_transA"}
    backend = corpus.group("backend")
    assert len(backend) >= 30
    ops = {n.op_type for m in backend for n in onnx.load(m.onnx).graph.node}
    for op in ("Add", "ReduceSum", "ReduceMean", "MatMul", "Gemm", "Conv", "MaxPool", "AveragePool", "Softmax", "Cast", "Gather", "Where", "Transpose", "Reshape", "Concat", "Mod", "BitShift", "TopK", "Einsum", "LSTM"):
        assert op in ops, op
    dtypes = {str(v.dtype) for m in backend for v in list(m.inputs.values()) + list(m.expected.values())}
    assert {"float32", "float64", "float16", "int64", "int32", "int8", "uint8", "bool", "object"} <= dtypes
    assert set(BACKEND_CORE) <= {m.name for m in backend} and len(BACKEND_CORE) >= 30
    gather = corpus["test_gather_0"]
    assert gather.inputs["indices"].dtype == np.int64
    assert corpus["test_where_example"].inputs["condition"].dtype == np.bool_
    assert not corpus["test_constant"].inputs  # an op with no input at all
    # Every skip is one the builder explained; most candidates made it in.
    assert all(reason for reason in corpus.skipped.values())
    assert len(corpus.skipped) <= 8, corpus.skipped


def test_every_model_runs_in_onnxruntime_and_gives_the_expected_outputs(corpus: Corpus) -> None:
    for m in corpus:
        got = _run(m.onnx, m.inputs)
        assert m.expected, m.name
        _close(m, got)
    # ZipMap's output is not a tensor: a list of {class: probability} per row, equal to sklearn's.
    for name in ("sk_logreg_zipmap", "sk_forest_zipmap"):
        m = corpus[name]
        got = _run(m.onnx, m.inputs)["output_probability"]
        ref = _run(corpus[name.replace("_zipmap", "")].onnx, m.inputs)["probabilities"]
        assert isinstance(got, list) and len(got) == len(ref) and sorted(got[0]) == [0, 1, 2]
        np.testing.assert_allclose([[row[k] for k in range(3)] for row in got], ref, rtol=1e-6)


def test_signatures_are_what_the_notes_say(corpus: Corpus) -> None:
    def sig(m):
        g = onnx.load(m.onnx).graph
        return [(v.name, v.type.tensor_type.elem_type, [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]) for v in list(g.input) + list(g.output) if v.type.HasField("tensor_type")]

    T = onnx.TensorProto
    assert sig(corpus["sk_logreg"]) == [("float_input", T.FLOAT, [0, 4]), ("label", T.INT64, [0]), ("probabilities", T.FLOAT, [0, 3])]
    assert [o.name for o in onnx.load(corpus["sk_forest_zipmap"].onnx).graph.output] == ["output_label", "output_probability"]
    assert sig(corpus["cnn"]) == [("image", T.FLOAT, ["N", 1, 28, 28]), ("logits", T.FLOAT, ["N", 10])]
    assert sig(corpus["encoder"]) == [("ids", T.INT64, ["N", "T"]), ("mask", T.BOOL, ["N", "T"]), ("tokens", T.FLOAT, ["N", "T", 16]), ("logits", T.FLOAT, ["N", 3])]
    assert sig(corpus["two_inputs"]) == [("a", T.FLOAT, ["N", 4]), ("b", T.FLOAT, ["N", 3]), ("y", T.FLOAT, ["N", 3])]
    assert sig(corpus["fixed_batch"]) == [("x", T.FLOAT, [1, 4]), ("y", T.FLOAT, [1, 3])]
    assert sig(corpus["transpose"]) == [("x", T.FLOAT, ["N", 4]), ("y", T.FLOAT, [4, "N"])]
    assert sig(corpus["gemm_transA"]) == [("x", T.FLOAT, ["N", 4]), ("gram", T.FLOAT, [4, 4])]
    # skl2onnx declares the default domain twice without ZipMap (the issue's exit-70 trigger in edge).
    assert [o.domain for o in onnx.load(corpus["sk_logreg"].onnx).opset_import].count("") == 2
    # Row counts really differ from the input's.
    assert _run(corpus["transpose"].onnx, corpus["transpose"].inputs)["y"].shape == (4, 6)
    assert _run(corpus["gemm_transA"].onnx, corpus["gemm_transA"].inputs)["gram"].shape == (4, 4)


def test_reference_evaluator_runs_all_but_zipmap(corpus: Corpus) -> None:
    from onnx.reference import ReferenceEvaluator

    for m in corpus:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            if m.name.endswith("_zipmap"):
                with pytest.raises(NotImplementedError, match="ZipMap"):
                    ReferenceEvaluator(str(m.onnx))
                continue
            ref = ReferenceEvaluator(str(m.onnx))
            got = dict(zip(ref.output_names, ref.run(None, m.inputs)))
        _close(m, got)


def test_torch_factories_load_the_exported_weights_and_batch_and_length_are_dynamic(corpus: Corpus) -> None:
    import torch

    rng = np.random.default_rng(3)
    for name in ("cnn", "encoder"):
        m = corpus[name]
        file, factory = m.module.rsplit(":", 1)
        assert Path(file).is_file() and Path(file).parent == m.onnx.parent
        module = getattr(_import_file(Path(file)), factory)()
        assert isinstance(module, torch.nn.Module) and not module.training
        with torch.no_grad():
            out = module(*(torch.from_numpy(v) for v in m.inputs.values()))
        out = out if isinstance(out, tuple) else (out,)
        for got, want in zip(out, m.expected.values()):
            np.testing.assert_array_equal(got.numpy(), want)  # same weights, same code: bit for bit
        # Another batch size (and sequence length) than the export's example: torch and ORT agree.
        if name == "cnn":
            feed = {"image": rng.standard_normal((5, 1, 28, 28)).astype(np.float32)}
        else:
            mask = np.zeros((2, 11), bool)
            mask[0, 8:] = True
            feed = {"ids": rng.integers(0, 50, (2, 11)).astype(np.int64), "mask": mask}
        with torch.no_grad():
            want = module(*(torch.from_numpy(v) for v in feed.values()))
        want = want if isinstance(want, tuple) else (want,)
        got = _run(m.onnx, feed)
        for (k, g), w in zip(got.items(), want):
            np.testing.assert_allclose(g, w.numpy(), rtol=1e-4, atol=1e-5, err_msg=f"{name}.{k}")


def test_backend_cases_on_disk_read_back_exactly(corpus: Corpus) -> None:
    for m in corpus.group("backend"):
        assert (m.test_data / "model.onnx") == m.onnx
        sets = read_onnx_test_data(m.test_data)
        assert len(sets) == 1, m.name
        s = sets[0]
        assert [n for n, _ in s.inputs] == list(m.inputs) and [n for n, _ in s.outputs] == list(m.expected), m.name
        for (_, got), want in zip(s.inputs + s.outputs, list(m.inputs.values()) + list(m.expected.values())):
            assert got.dtype == want.dtype and got.shape == want.shape, m.name
            if want.dtype == object:
                text = np.array([w.decode() if isinstance(w, bytes) else w for w in want.ravel()], dtype=object).reshape(want.shape)
                assert got.tolist() == text.tolist(), m.name
            else:
                np.testing.assert_array_equal(got, want, err_msg=m.name)
        assert m.rtol == BACKEND_RTOL and m.atol == BACKEND_ATOL


def test_building_onnx_only_groups_imports_neither_torch_nor_sklearn(tmp_path: Path) -> None:
    code = (
        "import sys; from corpus import build_corpus; c = build_corpus(sys.argv[1], 'onnx');"
        "print(len(c), sorted(m for m in ('torch', 'sklearn', 'skl2onnx') if m in sys.modules))"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent), str(HERE)])}
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    count, imported = proc.stdout.strip().split(" ", 1)
    assert int(count) == 4 and imported == "[]"
