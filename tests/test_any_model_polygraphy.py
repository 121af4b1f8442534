"""irisonnx and Polygraphy on the same model and the same inputs must tell the same story.

Polygraphy's CLI writes the inputs and the good model's outputs; a copy with one weight moved
is then judged by Polygraphy's own comparator (its Python API, its numbers) and by
``irisonnx compare --load-io out.json --inputs in.json``: max abs and max rel errors and the
verdicts agree."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from corpus import get_corpus
from onnx_helpers import cli


def _polygraphy() -> Path:
    exe = Path(sys.executable).parent / "polygraphy"
    if not exe.exists():
        pytest.skip("the polygraphy CLI is not installed next to this Python")
    return exe


def _sabotaged(src: Path, dst: Path) -> Path:
    m = onnx.load(str(src))
    init = max(m.graph.initializer, key=lambda t: int(np.prod(t.dims)))  # the biggest weight
    w = numpy_helper.to_array(init).copy()
    w.flat[w.size // 2] += 0.5
    init.CopyFrom(numpy_helper.from_array(w, init.name))
    onnx.save(m, str(dst))
    return dst


@pytest.mark.parametrize("name,shapes", [("cnn", ["image:[4,1,28,28]"]), ("two_inputs", ["a:[6,4]", "b:[6,3]"])])
def test_irisonnx_and_polygraphy_agree_on_errors_and_verdicts(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path, name: str, shapes: list[str], capsys: pytest.CaptureFixture) -> None:
    from polygraphy.comparator import CompareFunc, Comparator, RunResults

    exe = _polygraphy()
    m = get_corpus(tmp_path_factory, "torch", "onnx")[name]
    inp, good, bad_out = tmp_path / "in.json", tmp_path / "good.json", tmp_path / "bad.json"
    run = [str(exe), "run", str(m.onnx), "--onnxrt", "--input-shapes", *shapes, "--val-range", "[-1,1]", "--save-inputs", str(inp), "--save-outputs", str(good)]
    r = subprocess.run(run, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    bad = _sabotaged(m.onnx, tmp_path / "bad.onnx")
    r = subprocess.run([str(exe), "run", str(bad), "--onnxrt", "--load-inputs", str(inp), "--save-outputs", str(bad_out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr

    # Polygraphy's numbers: bad first, good second, so its relative error divides by the good
    # (baseline) values, as irisonnx's does.
    results = RunResults()
    for path in (bad_out, good):
        for runner, iters in RunResults.load(str(path)).items():
            results.append((f"{path.stem}:{runner}", iters))
    for atol, rtol in ((1e-3, 1e-3), (10.0, 10.0)):
        acc = Comparator.compare_accuracy(results, compare_func=CompareFunc.simple(atol=atol, rtol=rtol))
        (one,) = list(acc)  # one comparison function
        ((_, iters),) = one.items()  # one runner pair
        (per_output,) = iters
        rc, out, err = cli(capsys, "compare", str(bad), "--runtimes", "ort-cpu", "--load-io", str(good), "--inputs", str(inp), "--atol", str(atol), "--rtol", str(rtol), "--json", "-q")
        assert rc in (0, 1), err
        doc = json.loads(out)
        (pair,) = doc["pairs"]
        mine = {o["output"]: o for o in pair["outputs"]}
        assert set(mine) == set(per_output)
        for out_name, pg in per_output.items():
            assert mine[out_name]["max_abs_error"] == pytest.approx(pg.max_absdiff, rel=1e-12, abs=0), out_name
            assert mine[out_name]["max_rel_error"] == pytest.approx(pg.max_reldiff, rel=1e-6), out_name
            # Polygraphy passes an element when |a-b| <= atol or rel <= rtol; irisonnx when
            # |a-b| <= atol + rtol*|b|: far from the boundary (a +0.5 weight, or huge
            # tolerances) the verdicts must agree.
            assert mine[out_name]["passed"] == bool(pg), (out_name, atol, mine[out_name], pg)
        assert (rc == 0) == bool(acc)
