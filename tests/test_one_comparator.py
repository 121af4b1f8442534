"""One comparator (issue 14, item 9): export's parity check and verify's bit-for-bit check
judge elements through compare's PairStats. Expected figures here come from numpy formulas
written in the tests, never from irisonnx."""

from __future__ import annotations

import ast
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from irisonnx.compare.stats import PairStats, Tolerance

ROOT = Path(__file__).resolve().parent.parent / "irisonnx"


def _expected(a: np.ndarray, b: np.ndarray, scale: np.ndarray, atol: float, rtol: float) -> dict:
    """Close-mode figures of finite arrays, straight from the definitions (float64)."""
    err = np.abs(a.astype(np.float64) - b.astype(np.float64))
    tol = atol + rtol * scale
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(tol > 0, err / np.where(tol > 0, tol, 1.0), np.where(err > 0, np.inf, 0.0))
        rel_all = np.where(err == 0, 0.0, err / scale)
    ruled = (rtol * scale >= atol) & (scale > 0)
    bad = err > tol
    bad_rows = np.flatnonzero(bad.reshape(len(bad), -1).any(axis=1))
    return {
        "max_abs": err.max(),
        "max_rel": rel_all.max(),
        "n_fail": int(bad.sum()),
        "max_ratio": ratio.max(),
        "worst_row": int(np.unravel_index(np.argmax(ratio), ratio.shape)[0]),
        "n_rel_ruled": int(ruled.sum()),
        "max_rel_ruled": (err[ruled] / scale[ruled]).max() if ruled.any() else 0.0,
        "n_rows_fail": len(bad_rows),
        "fail_rows": bad_rows[:10].tolist(),
    }


def _cases() -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(7)
    b = (rng.standard_normal((600, 3)) * 3).astype(np.float32)
    a = (b + rng.standard_normal(b.shape).astype(np.float32) * 2e-5).astype(np.float32)
    b[:20] = 0.0  # zero baselines: relative error inf (or 0 for 0 vs 0), atol rules
    a[:10] = 0.0
    b[100:200] *= 1e5  # huge rows: cancellation scale
    a[100:200] = b[100:200] + rng.standard_normal((100, 3)).astype(np.float32) * 3
    return [(a, b)]


@pytest.mark.parametrize("row_scaled", [False, True])
@pytest.mark.parametrize(("atol", "rtol"), [(1e-5, 1e-5), (0.0, 1e-6), (1e-4, 0.0), (0.0, 0.0)])
def test_pairstats_scale_and_tolerance_figures_match_the_formulas(row_scaled: bool, atol: float, rtol: float) -> None:
    """PairStats.update(scale=) judges |a-b| <= atol + rtol*scale and reports |a-b|/scale; with
    tolerance_figures it keeps the error/tolerance ratio, its row, and the relative error where
    the rtol term rules; failing rows are counted. Fast (finite float32) and general path agree."""
    for a, b in _cases():
        scale = np.abs(b.astype(np.float64))
        if row_scaled:
            scale[100:200] = scale[100:200].max(axis=1, keepdims=True)
        exp = _expected(a, b, scale, atol, rtol)
        tol = Tolerance(atol=atol, rtol=rtol)
        fast, general = PairStats("r", "b", tol, tolerance_figures=True), PairStats("r", "b", tol, tolerance_figures=True)
        general._all_finite = lambda a, b: False  # type: ignore[method-assign]
        for p in (fast, general):
            for lo in range(0, len(a), 128):  # several chunks: streamed maxima and row offsets
                p.update("o", a[lo : lo + 128], b[lo : lo + 128], row_offset=lo, scale=scale[lo : lo + 128])
            st = p.outputs["o"]
            assert st.max_abs == exp["max_abs"] and st.n_fail == exp["n_fail"]
            assert st.max_rel == exp["max_rel"] and st.max_ratio == exp["max_ratio"]
            assert (st.n_rel_ruled, st.max_rel_ruled) == (exp["n_rel_ruled"], exp["max_rel_ruled"])
            assert st.worst_ratio["index"][0] == exp["worst_row"]
            assert (st.n_rows, st.n_rows_fail, st.fail_rows) == (600, exp["n_rows_fail"], exp["fail_rows"])
        assert fast.to_dict() == general.to_dict()


def test_pairstats_without_scale_is_numpy_isclose() -> None:
    (a, b), = _cases()
    p = PairStats("r", "b", Tolerance(atol=1e-5, rtol=1e-5))
    p.update("o", a, b)
    assert p.outputs["o"].n_fail == int((~np.isclose(a, b, rtol=1e-5, atol=1e-5)).sum()) > 0
    assert "max_tolerance_ratio" not in p.to_dict()["outputs"][0]  # the extra figures are opt-in


def test_export_parity_figures_are_the_formulas_including_the_row_scaled_group() -> None:
    """export._compare against a torch module and a stand-in runtime that differs a little
    everywhere (float64 arithmetic), a lot on two rows, and flips two labels (one on a
    near-tie, which does not count): every figure per output and per group, both batch modes."""
    import torch

    import irisonnx.export.export as export_mod

    atol, rtol = 1e-5, 1e-5
    rng = np.random.default_rng(3)
    w = rng.standard_normal((4, 3)).astype(np.float32)
    c = np.array([1.0, 1.0, 0.0], np.float32)  # x = 0 gives logits (1, 1, 0): a tie

    class Net(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
            logits = x @ torch.from_numpy(w) + torch.from_numpy(c)
            return logits, torch.softmax(logits, dim=1), torch.argmax(logits, dim=1)

    groups = {
        "test": rng.uniform(0, 2, (12, 4)).astype(np.float32),
        "edge": np.vstack([rng.uniform(0, 2, (5, 4)), np.zeros((1, 4))]).astype(np.float32),
        "large": (rng.uniform(-1, 1, (8, 4)) * 1e5).astype(np.float32),
    }
    x = np.concatenate(list(groups.values()))
    n = len(x)
    tie_row = 17  # the last edge row, x = 0
    with torch.no_grad():
        ref_logits = (torch.from_numpy(x) @ torch.from_numpy(w) + torch.from_numpy(c)).numpy()
    top2 = np.sort(ref_logits.astype(np.float64), axis=1)[:, -2:]
    clear = top2[:, 1] - top2[:, 0] > atol + rtol * np.abs(top2[:, 1])
    flip_clear = int(np.flatnonzero(clear)[0])

    def runtime(xs: np.ndarray, offset: int) -> dict[str, np.ndarray]:
        logits64 = xs.astype(np.float64) @ w.astype(np.float64) + c
        logits = logits64.astype(np.float32)
        rows = np.arange(offset, offset + len(xs))
        logits[rows == 2] += np.float32(1e-3)  # test row 2: out of tolerance
        e = np.exp(logits64 - logits64.max(axis=1, keepdims=True))
        label = np.argmax(logits64, axis=1)
        flip = (rows == flip_clear) | (rows == tie_row)
        label[flip] = (label[flip] + 1) % 3
        return {"logits": logits, "probabilities": (e / e.sum(axis=1, keepdims=True)).astype(np.float32), "label": label.astype(np.int64)}

    class Runtime:
        def run(self, xs: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
            offset = 0 if len(xs) == n else int(np.flatnonzero((x == xs[0]).all(axis=1))[0])
            return {k: v for k, v in runtime(xs, offset).items() if k in names}

    names = ["logits", "probabilities", "label"]
    rep = export_mod._compare(Runtime(), Net().eval(), groups, names, atol, rtol)

    ref = {k: v.numpy() for k, v in zip(names, Net()(torch.from_numpy(x)))}
    got = runtime(x, 0)
    bounds = {"test": (0, 12), "edge": (12, 18), "large": (18, 26)}
    for name in ("logits", "probabilities"):
        b = ref[name].astype(np.float64)
        scale = np.abs(b)
        scale[18:26] = scale[18:26].max(axis=1, keepdims=True)  # large: the row's largest |torch|
        # both batch modes: all-at-once, then every row alone (the same rows, the same values)
        a2, b2, s2 = np.concatenate([got[name]] * 2), np.concatenate([b] * 2), np.concatenate([scale] * 2)
        exp = _expected(a2, b2, s2, atol, rtol)
        st = rep.outputs[name]
        assert (st.max_abs_err, st.n_bad, st.max_ratio) == (exp["max_abs"], exp["n_fail"], exp["max_ratio"]), name
        assert (st.n_rel, st.max_rel_err) == (exp["n_rel_ruled"], exp["max_rel_ruled"]), name
        r = exp["worst_row"]
        g = next(g for g, (lo, hi) in bounds.items() if lo <= r % n < hi)
        assert st.worst == f"{g} row {r % n - bounds[g][0]}, {'all-at-once' if r < n else 'batch-1'}"
    for g, (lo, hi) in bounds.items():
        parts = []
        for name in ("logits", "probabilities"):
            b = ref[name][lo:hi].astype(np.float64)
            scale = np.abs(b) if g != "large" else np.abs(b).max(axis=1, keepdims=True) * np.ones_like(b)
            parts.append((got[name][lo:hi], b, scale))
        a2 = np.concatenate([p[0].astype(np.float64).ravel() for p in parts] * 2)
        b2 = np.concatenate([p[1].ravel() for p in parts] * 2)
        s2 = np.concatenate([p[2].ravel() for p in parts] * 2)
        exp = _expected(a2[:, None], b2[:, None], s2[:, None], atol, rtol)
        st = rep.by_group[g]
        assert (st.max_abs_err, st.n_bad, st.max_ratio, st.n_rel, st.max_rel_err) == (exp["max_abs"], exp["n_fail"], exp["max_ratio"], exp["n_rel_ruled"], exp["max_rel_ruled"]), g
    assert rep.by_group["test"].n_bad == 2 * 3 and rep.by_group["large"].n_bad == 0 and rep.by_group["large"].max_abs_err > 1e-3
    expected_labels = 2 * int(((got["label"] != ref["label"]) & clear).sum())
    assert not clear[tie_row] and got["label"][tie_row] != ref["label"][tie_row]  # flipped, on a tie
    assert rep.label_mismatches == expected_labels == 2 and not rep.passed
    doc = rep.to_dict()
    assert doc["by_group"]["large"]["tolerance"] == "row-scaled" and doc["by_group"]["test"]["tolerance"] == "elementwise"
    assert doc["max_abs_err"] == max(rep.outputs[k].max_abs_err for k in ("logits", "probabilities"))


def test_verify_rows_and_figures_are_the_formulas(tmp_path: Path, tiny_run: Path) -> None:
    """Older weights re-recorded: verify's per-row report (rows identical, first mismatching
    rows, argmax, max abs diff) equals numpy's bitwise comparison of the two models' outputs."""
    import torch

    from irisonnx.training.checkpoint import list_checkpoints, load_checkpoint, save_weights
    from irisonnx.training.model import MLP
    from irisonnx.training.run import Run
    from irisonnx.storage import Manifest
    from irisonnx.training.verify import verify_run

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    older = load_checkpoint(run / "checkpoints" / "epoch-0025.safetensors")
    save_weights(run / "model.safetensors", older.model_state, json.loads((run / "config.json").read_text()))
    m = Manifest.load(run)
    m.record([run / "model.safetensors"])
    m.save()
    res = verify_run(run)

    r = Run.open(run)
    final = r.load_model()
    newest = MLP(r.model_config)
    newest.load_state_dict(load_checkpoint(list_checkpoints(r.checkpoints_dir)[-1][1]).model_state)
    x = torch.from_numpy(r.dataset().features)
    with torch.no_grad():
        a, b = final.eval()(x).numpy(), newest.eval()(x).numpy()
    same = (a.view(np.uint32) == b.view(np.uint32)).all(axis=1)
    assert not res.passed and res.n_rows == len(a)
    assert res.n_rows_identical == int(same.sum()) < len(a)
    assert res.mismatched_rows == np.flatnonzero(~same)[:10].tolist()
    assert res.max_abs_diff == float(np.abs(a.astype(np.float64) - b.astype(np.float64)).max()) > 0
    assert res.n_argmax_equal == int((a.argmax(1) == b.argmax(1)).sum())
    params = {p.name: p for p in res.params}
    for name, t in older.model_state.items():
        ref = newest.state_dict()[name].numpy()
        assert params[name].identical == (t.numpy().tobytes() == ref.tobytes()), name
        assert params[name].max_abs_diff == float(np.abs(t.numpy().astype(np.float64) - ref.astype(np.float64)).max()), name


def _own_comparisons(path: Path) -> list[str]:
    """Element comparisons written out in a module: abs of a difference, isclose/allclose/
    array_equal, a comparison of raw bytes."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            fn = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if fn in ("abs", "fabs", "absolute") and any(isinstance(n, ast.BinOp) and isinstance(n.op, ast.Sub) for arg in node.args for n in ast.walk(arg)):
                found.append(f"line {node.lineno}: {fn} of a difference")
            if fn in ("isclose", "allclose", "array_equal", "assert_allclose", "close_mask", "bits_equal"):
                found.append(f"line {node.lineno}: {fn}")
        if isinstance(node, ast.Compare) and any(isinstance(n, ast.Attribute) and n.attr in ("tobytes", "view") for n in ast.walk(node)):
            found.append(f"line {node.lineno}: compares raw bytes")
    return found


@pytest.mark.parametrize("module", ["export/export.py", "training/verify.py"])
def test_export_and_verify_have_no_comparator_of_their_own(module: str) -> None:
    src = (ROOT / module).read_text()
    assert "PairStats(" in src
    assert _own_comparisons(ROOT / module) == []
    assert "def _accumulate" not in src and "def _identical" not in src
