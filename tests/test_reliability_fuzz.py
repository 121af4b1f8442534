"""Property-based tests on every parser a user reaches, through the real CLI entry point
(``irisonnx.cli.main``, in this process): CSV for ``data`` and ``predict``, ``--values``,
tolerance strings (``--atol logits=1e-4``), ``--runtimes`` lists, and run folders with files
missing or added. Whatever the input: exit 0 (or 1 where a check may fail), else exactly one
line ``irisonnx: error: ...`` and the documented code, never a traceback or exit 70.

A few hundred examples per parser by default; IRISONNX_SLOW=1 runs 10,000 per parser.
"""

from __future__ import annotations

import csv
import io
import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from onnx_helpers import exported_run
from reliability_helpers import sized

FEATURES = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
COUNTS: dict[str, int] = {}


def _settings(quick: int) -> Any:
    return settings(
        max_examples=sized(quick, 10_000),
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )


def run(capsys: pytest.CaptureFixture, *argv: str) -> tuple[int, str, str]:
    from irisonnx.cli import main

    capsys.readouterr()
    try:
        main(list(argv))
        code: Any = 0
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def check_contract(code: Any, err: str, allowed: set[int], what: str) -> None:
    """The contract for every invocation: an int exit code from the documented set, and on
    failure one stderr line ``irisonnx: error: ...`` and no traceback."""
    assert isinstance(code, int) and code in allowed, (what, code, err)
    assert "Traceback" not in err, (what, err)
    if code not in (0, 1):
        lines = err.splitlines()
        assert len(lines) == 1 and lines[0].startswith("irisonnx: error: "), (what, err)
    COUNTS[what] = COUNTS.get(what, 0) + 1


@pytest.fixture(scope="module", autouse=True)
def report_counts() -> Any:
    yield
    if COUNTS:
        print("\nexamples run: " + ", ".join(f"{k} {v:,}" for k, v in sorted(COUNTS.items())))


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory, tiny_run: Path) -> Path:
    return exported_run(tmp_path_factory, tiny_run, "dynamo", True, True)[0]


# --- CSV --------------------------------------------------------------------------------------

_SPECIAL = ["nan", "NaN", "inf", "-inf", "1e39", "-1e39", "1e-50", "0x10", "1_000", " 5.1 ", "５", "1,5", "1.2.3", "\u00a05", "", " ", "-0", "+3", ".5", "5.", "1e", "e5", "\t2"]
NUMBER = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.floats(-10, 10, allow_nan=False).map(lambda v: f"{v:.3g}"),
    st.integers(-(10**40), 10**40).map(str),
    st.sampled_from(_SPECIAL),
)
JUNK = st.text(st.characters(blacklist_categories=("Cs",)), max_size=6)
CELL = st.one_of(NUMBER, NUMBER, NUMBER, JUNK, st.just("9" * 140_000))  # the last: beyond csv's field limit


def _render(rows: list[list[str]], quoted: bool, newline: str, bom: bool, trailing: int) -> str:
    if quoted:
        buf = io.StringIO()
        csv.writer(buf, lineterminator=newline).writerows(rows)
        text = buf.getvalue()
    else:
        text = "".join(",".join(r) + newline for r in rows)
    return ("\ufeff" if bom else "") + text + newline * trailing


@st.composite
def csv_text(draw: Any, header: list[str] | None, width: int) -> str:
    """Mostly tables of about the right shape (so the success path runs too), with bad cells,
    ragged rows, quoting, BOMs, CRLF and blank lines; sometimes plain random text."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.text(max_size=200))
    n = draw(st.integers(0, 8))
    good = st.floats(-50, 50, allow_nan=False).map(lambda v: f"{v:.4g}")
    rows = []
    for _ in range(n):
        k = width if draw(st.integers(0, 5)) else draw(st.integers(0, width + 2))
        rows.append([draw(good) if draw(st.integers(0, 6)) else draw(CELL) for _ in range(k)])
    if header is not None:
        h = list(header)
        if not draw(st.integers(0, 4)):
            h = draw(st.lists(st.sampled_from([*header, "extra", "", " a ", "a\nb", header[0]]), max_size=len(header) + 2))
        rows.insert(0, h)
    return _render(rows, draw(st.booleans()), draw(st.sampled_from(["\n", "\r\n"])), draw(st.booleans()), draw(st.integers(0, 2)))


@st.composite
def labelled_csv(draw: Any) -> str:
    """For ``irisonnx data``: two features and a label column, often valid."""
    text = draw(csv_text(["f1", "f2", "species"], 3))
    if draw(st.integers(0, 3)):  # make the label column a label most of the time
        lines = text.split("\n")
        labels = st.sampled_from(["a", "b", "c", "1", "2"])
        text = "\n".join((ln.rsplit(",", 1)[0] + "," + draw(labels)) if i and "," in ln else ln for i, ln in enumerate(lines))
    return text


def test_data_csv_property(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    @_settings(200)
    @given(text=labelled_csv(), target=st.sampled_from(["species", "species", "f1", "nope"]), raw=st.one_of(st.none(), st.binary(max_size=64)))
    def prop(text: str, target: str, raw: bytes | None) -> None:
        src = tmp_path / "in.csv"
        src.write_bytes(raw if raw is not None else text.encode("utf-8", "surrogatepass"))
        code, _, err = run(capsys, "data", "--csv", str(src), "--target", target, "--name", "fuzz", "--datastore", str(tmp_path / "store"), "--json")
        check_contract(code, err, {0, 2}, "data CSV")
        if code == 0:  # what was written is a dataset training can use
            from irisonnx.data.datastore import load_dataset

            ds = load_dataset(tmp_path / "store" / "processed" / "fuzz")
            assert ds.features.dtype == np.float32 and np.isfinite(ds.features).all()
            assert len(ds.class_names) >= 2 and len(ds.test_idx) >= len(ds.class_names)

    prop()


def test_predict_csv_property(full: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    @_settings(150)
    @given(text=st.one_of(csv_text(FEATURES, 4), csv_text(None, 4), csv_text(["petal_width", "extra", *FEATURES[:3]], 5)))
    # Found by a random draw in `make test`: finite float32 values whose logits overflow gave
    # NaN probabilities, class 'setosa', exit 0 and bare NaN in the JSON.
    @example(text="3e38,3e38,3e38,3e38\n")
    @example(text="sepal_length,sepal_width,petal_length,petal_width\n5.1,3.5,1.4,0.2\n-3.3e38,1,1,1\n")
    def prop(text: str) -> None:
        src = tmp_path / "rows.csv"
        src.write_text(text, encoding="utf-8", errors="surrogatepass")
        code, out, err = run(capsys, "predict", str(full), "--input", str(src), "--json")
        check_contract(code, err, {0, 1, 2}, "predict CSV")
        if code in (0, 1):  # 1: some row's outputs are not finite, so it has no class
            import json

            doc = json.loads(out, parse_constant=lambda c: pytest.fail(f"not RFC 8259 JSON: {c}"))
            classified = [row for row in doc["predictions"] if row["class"] is not None]
            assert doc["n_rows"] >= 1 and all(math.isfinite(p) for row in classified for p in row["probabilities"].values())
            assert (code == 1) == (len(classified) < doc["n_rows"]) == (doc["n_unclassified"] > 0)
            assert all(row["label"] is None and "not finite" in row["reason"] for row in doc["predictions"] if row["class"] is None)

    prop()


def test_property_tests_are_derandomized_by_default() -> None:
    """`make test` must not depend on luck: without HYPOTHESIS_PROFILE the profile is a fixed
    seed (tests/conftest.py); `make fuzz-tests` selects the wide random one."""
    import os

    if os.environ.get("HYPOTHESIS_PROFILE", "ci") == "ci":
        assert settings.default.derandomize is True and settings.default.database is None
    else:
        assert settings.default.derandomize is False


# --- --values -----------------------------------------------------------------------------------


def _plain_float(text: str) -> float:
    """float() as a spreadsheet reads numbers: no '1_000', no full-width or other non-ASCII
    digits (float() takes both; irisonnx refuses them)."""
    t = text.strip()
    if "_" in t or not t.isascii():
        raise ValueError(text)
    return float(t)


def _values_ok(text: str) -> bool:
    cells = text.split(",")
    if not text.strip() or len(cells) != 4:
        return False
    try:
        vals = [_plain_float(c) for c in cells]
    except ValueError:
        return False
    return all(math.isfinite(v) for v in vals) and bool(np.isfinite(np.array(vals, dtype=np.float64).astype(np.float32)).all())


def test_values_property(full: Path, capsys: pytest.CaptureFixture) -> None:
    @_settings(300)
    @given(text=st.one_of(st.lists(NUMBER, min_size=0, max_size=6).map(",".join), st.text(max_size=30)))
    def prop(text: str) -> None:
        if "\x00" in text:  # argv cannot carry NUL
            return
        code, out, err = run(capsys, "predict", str(full), f"--values={text}", "--json")
        check_contract(code, err, {0, 1, 2}, "--values")
        expected = 0 if _values_ok(text) else 2
        if expected == 0 and code == 2 and "too large for float32" in err:
            return
        if expected == 0 and code == 1:  # valid values whose outputs overflow: no class, said so
            import json

            assert json.loads(out)["predictions"][0]["class"] is None and "have no class" in err, (text, out)
            return
        assert code == expected, (text, err)

    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # float32 overflow in the oracle
        prop()


# --- compare: tolerances and runtime lists ------------------------------------------------------------


def _tol_ok(v: str) -> bool:
    name, eq, num = v.rpartition("=")
    try:
        f = _plain_float(num)
    except ValueError:
        return False
    # NAME must be one of the model's outputs (the fixture's: logits, probabilities, label)
    return 0 <= f < math.inf and (not eq or name.strip() in ("logits", "probabilities", "label"))


TOL = st.one_of(
    NUMBER,
    st.tuples(st.sampled_from(["logits", "probabilities", "label", "", " ", "logits=", "a=b"]), NUMBER).map(lambda t: f"{t[0]}={t[1]}"),
    st.text(max_size=12),
)


def test_tolerance_property(full: Path, capsys: pytest.CaptureFixture) -> None:
    model = str(full / "model.onnx")

    @_settings(120)
    @given(atol=st.lists(TOL, max_size=3), rtol=st.lists(TOL, max_size=2))
    def prop(atol: list[str], rtol: list[str]) -> None:
        if any("\x00" in v for v in atol + rtol):
            return
        argv = ["compare", model, "--runtimes", "ort-cpu,ort-cpu:O0", "--inputs", "random:3", "-q", "--json"]
        argv += [f"--atol={v}" for v in atol] + [f"--rtol={v}" for v in rtol]
        code, _, err = run(capsys, *argv)
        check_contract(code, err, {0, 1, 2}, "tolerances")
        assert (code in (0, 1)) == all(map(_tol_ok, atol + rtol)), (atol, rtol, err)

    prop()


NAMES = ["torch", "ort-cpu", "ort-cuda", "reference", "golden", "tensorrt", "ORT-CPU", ""]
OPTIONS = ["", ":", ":O0", ":O3", ":O9", ":tf32", ":x", ": O1"]


def _expected_runtimes(specs: list[str], has_cuda: bool) -> int | None:
    """Exit code for ``compare MODEL.onnx --runtimes ...`` (no run folder, no golden set);
    None where more than one answer is right."""
    norm = []
    for s in specs:
        name, _, opt = s.strip().partition(":")
        norm.append((name.strip(), opt.strip()))
    if any(n not in ("torch", "ort-cpu", "ort-cuda", "reference", "golden") for n, _ in norm):
        return 2
    names = [f"{n}:{o}" if o else n for n, o in norm]
    ordered = [names[0]] + [n for n in names if n != names[0]]
    if len(set(ordered)) != len(ordered):
        return 2
    usable = 0
    for n, o in dict.fromkeys((s.partition(":")[0], s.partition(":")[2]) for s in ordered):
        if n in ("ort-cpu", "ort-cuda") and o not in ("", "O0", "O1", "O2", "O3") and not (n == "ort-cuda" and o == "tf32"):
            return 2
        if n == "reference" and o:
            return 2  # options exist only for ort-*: a usage error, as for ort-cpu:x
        if n in ("torch", "golden") or (n == "ort-cuda" and not has_cuda):
            return 4
        usable += 1
    return 2 if usable < 2 else None


def test_runtimes_property(full: Path, capsys: pytest.CaptureFixture) -> None:
    from irisonnx.runtimes.ort_engine import cuda_available

    has_cuda = cuda_available()[0]
    model = str(full / "model.onnx")
    spec = st.tuples(st.sampled_from(NAMES), st.sampled_from(OPTIONS), st.sampled_from(["", " ", "  "])).map(lambda t: t[2] + t[0] + t[1] + t[2])

    @_settings(120)
    @given(specs=st.lists(spec, min_size=1, max_size=4))
    def prop(specs: list[str]) -> None:
        text = ",".join(specs)
        code, _, err = run(capsys, "compare", model, f"--runtimes={text}", "--inputs", "random:3", "-q", "--json")
        check_contract(code, err, {0, 1, 2, 4}, "--runtimes")
        live = [s for s in specs if s.strip()]
        if not live:
            return  # an empty list means the defaults
        expected = _expected_runtimes(live, has_cuda)
        if expected is None:
            assert code in (0, 1), (text, err)
        else:
            assert code == expected, (text, err)

    prop()


# --- run folders with files missing or added ---------------------------------------------------------

_EXTRAS = {
    "notes.txt": b"hello",
    "checkpoints/README": b"x",
    "checkpoints/epoch-9999.safetensors": b"\x08\x00\x00\x00\x00\x00\x00\x00{}      ",
    ".irisonnx-tmp-1-abcd1234-config.json": b"{",
    "checkpoints/.irisonnx-tmp-1-abcd1234-epoch-0035.safetensors": b"half",
    "model.onnx.bak": b"\x08\x07",
    "sub/dir/file.bin": b"\0" * 10,
}


def test_run_folders_with_missing_or_extra_files(full: Path, iris, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    files = sorted(p.relative_to(full).as_posix() for p in full.rglob("*") if p.is_file())
    commands = {
        "verify": lambda r: ["verify", str(r)],
        "predict": lambda r: ["predict", str(r), "--values", "5.1,3.5,1.4,0.2"],
        "inspect": lambda r: ["inspect", str(r)],
        "compare": lambda r: ["compare", str(r), "--runtimes", "torch,ort-cpu", "--inputs", "random:4", "-q"],
        "train": lambda r: ["train", "--data", str(iris.dir), "--run", str(r), "--epochs", "30", "--quiet"],
    }
    counter = {"n": 0}

    @_settings(60)
    @given(
        missing=st.sets(st.sampled_from(files), max_size=3),
        emptied=st.sets(st.sampled_from(files), max_size=1),
        extra=st.sets(st.sampled_from(sorted(_EXTRAS)), max_size=3),
        command=st.sampled_from(sorted(commands)),
    )
    def prop(missing: set[str], emptied: set[str], extra: set[str], command: str) -> None:
        counter["n"] += 1
        run_dir = tmp_path / f"run{counter['n']}"
        shutil.copytree(full, run_dir)
        for rel in missing:
            (run_dir / rel).unlink()
        for rel in emptied - missing:
            (run_dir / rel).write_bytes(b"")
        for rel in extra:
            (run_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            (run_dir / rel).write_bytes(_EXTRAS[rel])
        code, _, err = run(capsys, *commands[command](run_dir))
        shutil.rmtree(run_dir)
        check_contract(code, err, {0, 1, 2, 3}, "run folders")
        harmless = {"notes.txt", "checkpoints/README", "model.onnx.bak", "sub/dir/file.bin"}
        stale_temps = {".irisonnx-tmp-1-abcd1234-config.json", "checkpoints/.irisonnx-tmp-1-abcd1234-epoch-0035.safetensors"}
        if not missing and not emptied and extra <= harmless | stale_temps:
            assert code == 0, (command, extra, err)  # extra files a run may hold change nothing
        if "config.json" in missing and command in ("verify", "predict", "inspect", "compare"):
            assert code == 2 and "not a run folder" in err, (command, err)

    prop()
