"""CSV -> processed dataset: Iris conversion, the split, bad inputs, any numeric CSV,
and the download script (irisonnx/data/datastore.py, cli/data_cmd.py, datastore/scripts/)."""

from __future__ import annotations

import contextlib
import http.server
import json
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import IRIS_CSV, ROOT, run_cli
from irisonnx.data import datastore as data
from irisonnx.errors import ArtifactError, DataError, UsageError

SCRIPT = ROOT / "datastore" / "scripts" / "download_and_convert_dataset.py"
PROCESSED_FILES = ("features.npy", "labels.npy", "meta.json")


def _fresh_datastore(root: Path) -> Path:
    (root / "raw").mkdir(parents=True)
    shutil.copy(IRIS_CSV, root / "raw" / "iris.csv")
    return root


def _files(folder: Path) -> dict[str, bytes]:
    return {n: (folder / n).read_bytes() for n in PROCESSED_FILES}


# --- Iris ------------------------------------------------------------------------------


def test_bundled_csv_matches_pinned_sha256() -> None:
    assert data.sha256_file(IRIS_CSV) == data.IRIS_SHA256


def test_iris_conversion_shapes_dtypes_and_meta(iris) -> None:
    assert iris.features.shape == (150, 4) and iris.features.dtype == np.float32
    assert iris.labels.shape == (150,) and iris.labels.dtype == np.int64
    m = iris.meta
    assert m["feature_names"] == ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    assert m["feature_units"] == {n: "cm" for n in m["feature_names"]}
    assert m["class_names"] == ["setosa", "versicolor", "virginica"]
    assert m["class_counts"] == [50, 50, 50]
    assert (m["n_rows"], m["n_features"], m["n_classes"]) == (150, 4, 3)
    assert m["source"] == {"name": "iris.csv", "sha256": data.IRIS_SHA256}
    assert m["split"]["seed"] == 42 and m["split"]["test_fraction"] == 0.2
    assert len(m["split"]["train"]) == 120 and len(m["split"]["test"]) == 30
    assert m["files"]["features.npy"] == data.sha256_file(iris.dir / "features.npy")
    # The UCI errata, corrected as scikit-learn ships them (samples 35 and 38, 1-based).
    np.testing.assert_array_equal(iris.features[34], np.float32([4.9, 3.1, 1.5, 0.2]))
    np.testing.assert_array_equal(iris.features[37], np.float32([4.9, 3.6, 1.4, 0.1]))


def test_rerun_gives_byte_identical_files(tmp_path: Path, datastore: Path) -> None:
    first = data.convert_iris(_fresh_datastore(tmp_path / "a"))
    before = _files(first.dir)
    again = data.convert_iris(tmp_path / "a")
    assert _files(again.dir) == before
    # ... and the same bytes in another datastore folder (no paths or timestamps inside).
    assert _files(datastore / "processed" / "iris") == before


def test_modified_raw_csv_is_refused(tmp_path: Path) -> None:
    root = _fresh_datastore(tmp_path)
    raw = root / "raw" / "iris.csv"
    raw.write_bytes(raw.read_bytes().replace(b"5.1,3.5,1.4,0.2", b"5.1,3.5,1.4,0.3", 1))
    with pytest.raises(ArtifactError, match="bundled Iris CSV was modified.*sha256"):
        data.convert_iris(root)
    assert not (root / "processed").exists()


def test_a_datastore_without_raw_csv_uses_the_packaged_copy(tmp_path: Path, datastore: Path) -> None:
    """An installed irisonnx run from an empty folder: the CSV comes from the package."""
    ds = data.convert_iris(tmp_path / "empty")
    assert ds.meta["source"]["sha256"] == data.IRIS_SHA256
    assert _files(tmp_path / "empty" / "processed" / "iris") == _files(datastore / "processed" / "iris")
    assert not (tmp_path / "empty" / "raw").exists()


def test_missing_raw_csv_is_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import irisonnx.assets

    monkeypatch.setattr(irisonnx.assets, "asset", lambda name: tmp_path / "gone" / name)  # a package without its data
    with pytest.raises(UsageError, match="bundled Iris CSV not found"):
        data.convert_iris(tmp_path)


def test_load_dataset_refuses_a_modified_array(tmp_path: Path, datastore: Path) -> None:
    d = tmp_path / "iris"
    shutil.copytree(datastore / "processed" / "iris", d)
    blob = bytearray((d / "features.npy").read_bytes())
    blob[-1] ^= 0x01
    (d / "features.npy").write_bytes(bytes(blob))
    with pytest.raises(ArtifactError, match="corrupt or was modified"):
        data.load_dataset(d)


def test_load_unknown_dataset_is_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="dataset 'nope' not found.*irisonnx data --csv"):
        data.load_dataset("nope", datastore=tmp_path)


# --- the split and the statistics -----------------------------------------------------------


def test_iris_split_is_stratified_disjoint_and_complete(iris) -> None:
    train, test = iris.train_idx, iris.test_idx
    assert np.intersect1d(train, test).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(150))
    for c in range(3):
        n_c = int((iris.labels == c).sum())
        assert abs(int((iris.labels[test] == c).sum()) - 0.2 * n_c) <= 1


def test_split_seed_changes_the_split_and_is_reproducible() -> None:
    labels = np.repeat(np.arange(3), 50)
    a = data.stratified_split(labels, 0.2, 42)
    b = data.stratified_split(labels, 0.2, 42)
    c = data.stratified_split(labels, 0.2, 0)
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])


@settings(max_examples=60, deadline=None)
@given(counts=st.lists(st.integers(min_value=2, max_value=40), min_size=2, max_size=5), frac=st.floats(0.05, 0.95), seed=st.integers(0, 2**31))
def test_split_property_any_class_sizes(counts: list[int], frac: float, seed: int) -> None:
    labels = np.repeat(np.arange(len(counts)), counts)
    np.random.default_rng(seed).shuffle(labels)
    train, test = data.stratified_split(labels, frac, seed)
    assert np.intersect1d(train, test).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(len(labels)))
    for c, n_c in enumerate(counts):
        n_test = int((labels[test] == c).sum())
        assert 1 <= n_test <= n_c - 1  # every class on both sides
        assert abs(n_test - frac * n_c) <= 1 or n_test in (1, n_c - 1)


def test_feature_stats_equal_numpy_over_the_train_split(iris) -> None:
    x = iris.features[iris.train_idx].astype(np.float64)  # (120, 4)
    # Oracle: numpy over the training rows only; tolerance 0 (same arithmetic, same order).
    np.testing.assert_array_equal(iris.meta["stats"]["mean"], x.mean(axis=0))
    np.testing.assert_array_equal(iris.meta["stats"]["std"], x.std(axis=0))
    np.testing.assert_array_equal(iris.meta["stats"]["min"], iris.features.min(axis=0).astype(np.float64))
    # The test rows must not leak into the statistics.
    assert not np.array_equal(iris.meta["stats"]["mean"], iris.features.astype(np.float64).mean(axis=0))


# --- bad CSVs ----------------------------------------------------------------------------

GOOD = "a,b,y\n1,2,x\n3,4,x\n5,6,z\n7,8,z\n"

# (id, csv text, target, regex the one-line message must match: row and column where they exist)
BAD_CSVS = [
    ("missing-value", "a,b,y\n1,2,x\n3,,x\n5,6,z\n7,8,z\n", "y", r"row 3, column 'b' is empty"),
    ("missing-label", "a,b,y\n1,2,x\n3,4,\n5,6,z\n7,8,z\n", "y", r"row 3, column 'y' is empty"),
    ("non-numeric", "a,b,y\n1,2,x\n3,4,x\n5,abc,z\n7,8,z\n", "y", r"row 4, column 'b' is not a number: 'abc'"),
    ("not-finite", "a,b,y\n1,2,x\n3,4,x\n5,6,z\ninf,8,z\n", "y", r"row 5, column 'a' is not finite"),
    ("one-class", "a,b,y\n1,2,x\n3,4,x\n5,6,x\n", "y", r"only one class in column 'y': rows 2-4 are all 'x'"),
    ("fewer-rows-than-classes", "a,b,y\n1,2,x\n3,4,z\n5,6,w\n", "y", r"row 4, column 'y': class 'w' has only 1 row: 3 rows for 3 classes"),
    ("class-with-one-row", "a,b,y\n1,2,x\n3,4,x\n5,6,z\n", "y", r"row 4, column 'y': class 'z' has only 1 row"),
    ("ragged-short", "a,b,y\n1,2,x\n3,4\n5,6,z\n7,8,z\n", "y", r"row 3 has 2 cells, the header has 3: no value for column 'y'"),
    ("ragged-long", "a,b,y\n1,2,x\n3,4,x\n5,6,z,9\n7,8,z\n", "y", r"row 4 has 4 cells, the header has 3: extra cell after column 'y'"),
    ("blank-line-inside", "a,b,y\n1,2,x\n\n3,4,x\n5,6,z\n7,8,z\n", "y", r"row 3 has 0 cells"),
    ("empty-file", "", "y", r"is empty"),
    ("blanks-only", " , \n\n", "y", r"is empty"),
    ("header-only", "a,b,y\n", "y", r"header but no data rows: row 2 onward is empty"),
    ("missing-target-column", GOOD, "label", r"row 1 \(the header\) has no target column 'label': columns are a, b, y"),
    ("duplicate-header", "a,a,y\n1,2,x\n3,4,x\n5,6,z\n7,8,z\n", "y", r"bad header"),
    ("target-only", "y\nx\nx\nz\nz\n", "y", r"no feature columns"),
]


@pytest.mark.parametrize("text,target,pattern", [c[1:] for c in BAD_CSVS], ids=[c[0] for c in BAD_CSVS])
def test_bad_csv_is_a_data_error_naming_row_and_column(tmp_path: Path, text: str, target: str, pattern: str) -> None:
    with pytest.raises(DataError, match=pattern) as info:
        data.convert(text, name="bad", target=target, source_name="bad.csv", datastore=tmp_path)
    assert info.value.exit_code == 2
    assert "\n" not in str(info.value)
    assert not (tmp_path / "processed").exists()


@pytest.mark.parametrize("text,target,pattern", [c[1:] for c in BAD_CSVS], ids=[c[0] for c in BAD_CSVS])
def test_bad_csv_via_cli_exits_2_with_one_line_and_writes_nothing(tmp_path: Path, text: str, target: str, pattern: str) -> None:
    csv_path = tmp_path / "bad.csv"
    csv_path.write_text(text)
    store = tmp_path / "store"
    r = run_cli("data", "--csv", str(csv_path), "--target", target, "--name", "bad", "--datastore", str(store))
    assert r.returncode == 2, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("irisonnx: error: bad.csv"), r.stderr
    assert re.search(pattern, lines[0])
    assert "Traceback" not in r.stderr and r.stdout == ""
    assert not (store / "processed").exists()


def test_good_small_csv_converts() -> None:
    parsed = data.parse_csv(GOOD, "y")
    assert parsed.feature_names == ["a", "b"] and parsed.class_names == ["x", "z"]
    np.testing.assert_array_equal(parsed.labels, [0, 0, 1, 1])


def test_numeric_labels_are_ordered_by_value() -> None:
    text = "f,label\n1,10\n2,2\n3,10\n4,2\n5,1\n6,1\n"
    parsed = data.parse_csv(text, "label")
    assert parsed.class_names == ["1", "2", "10"]
    np.testing.assert_array_equal(parsed.labels, [2, 1, 2, 1, 0, 0])


def test_cli_refuses_csv_without_target(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text(GOOD)
    r = run_cli("data", "--csv", str(tmp_path / "x.csv"), "--datastore", str(tmp_path / "s"))
    assert r.returncode == 2
    assert r.stderr.startswith("irisonnx: error: --csv needs --target")
    assert not (tmp_path / "s").exists()


def test_cli_missing_csv_is_exit_2_with_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    r = run_cli("data", "--csv", str(missing), "--target", "y", "--datastore", str(tmp_path / "s"))
    assert r.returncode == 2
    assert r.stderr.strip() == f"irisonnx: error: CSV not found: {missing}"


# --- any numeric CSV, end to end --------------------------------------------------------------


def _blobs_csv(path: Path, n_per_class: int = 20, seed: int = 3) -> None:
    """Two well-separated 3-feature Gaussian blobs, written as a CSV with a text target."""
    rng = np.random.default_rng(seed)
    rows = ["x1,x2,x3,kind"]
    for label, centre in (("low", 0.0), ("high", 4.0)):
        for v in rng.normal(centre, 1.0, size=(n_per_class, 3)):
            rows.append(",".join(f"{x:.4f}" for x in v) + f",{label}")
    path.write_text("\n".join(rows) + "\n")


def test_generic_csv_via_cli_then_train(tmp_path: Path) -> None:
    csv_path = tmp_path / "blobs.csv"
    _blobs_csv(csv_path)
    store = tmp_path / "store"
    r = run_cli("data", "--csv", str(csv_path), "--target", "kind", "--name", "blobs", "--datastore", str(store), "--json")
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["rows"] == 40 and summary["features"] == ["x1", "x2", "x3"] and summary["classes"] == ["high", "low"]
    assert (summary["train_rows"], summary["test_rows"]) == (32, 8)
    meta = json.loads((store / "processed" / "blobs" / "meta.json").read_text())
    assert meta["feature_units"] == {} and meta["target"] == "kind"

    run = tmp_path / "run"
    r = run_cli("train", "--data", "blobs", "--run", str(run), "--epochs", "10", "--json", env={"IRISONNX_DATASTORE": str(store)})
    assert r.returncode == 0, r.stderr
    final = json.loads(r.stdout)["final"]
    assert final["epoch"] == 10 and final["test_acc"] >= 0.75  # separable blobs; a broken pipeline sits near 0.5
    config = json.loads((run / "config.json").read_text())
    assert config["model"]["n_features"] == 3 and config["model"]["n_classes"] == 2
    assert config["data"]["name"] == "blobs" and (run / "model.safetensors").exists()


# --- the download script ------------------------------------------------------------------------


def _script(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=cwd, capture_output=True, text=True, timeout=120)


@contextlib.contextmanager
def _serve(body: bytes) -> Iterator[str]:
    """Serve ``body`` for any GET on 127.0.0.1 at an ephemeral port."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/iris.csv"
    finally:
        server.shutdown()
        server.server_close()


def test_script_offline_falls_back_to_bundled_copy(tmp_path: Path, datastore: Path) -> None:
    root = _fresh_datastore(tmp_path / "store")
    r = _script("--url", "http://127.0.0.1:9/iris.csv", "--datastore", str(root), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "unreachable; using the bundled copy" in r.stderr
    # Same bytes as irisonnx data / convert_iris.
    assert _files(root / "processed" / "iris") == _files(datastore / "processed" / "iris")


def test_script_download_with_right_bytes(tmp_path: Path, datastore: Path) -> None:
    root = _fresh_datastore(tmp_path / "store")
    with _serve(IRIS_CSV.read_bytes()) as url:
        r = _script("--url", url, "--datastore", str(root), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "unreachable" not in r.stderr
    assert _files(root / "processed" / "iris") == _files(datastore / "processed" / "iris")


def test_script_download_with_wrong_bytes_exits_3(tmp_path: Path) -> None:
    root = _fresh_datastore(tmp_path / "store")
    with _serve(IRIS_CSV.read_bytes().replace(b"setosa", b"Setosa")) as url:
        r = _script("--url", url, "--datastore", str(root), cwd=tmp_path)
    assert r.returncode == 3, r.stderr
    assert r.stderr.startswith("download_and_convert_dataset: error: downloaded Iris CSV does not match the pinned sha256")
    assert len(r.stderr.splitlines()) == 1
    assert not (root / "processed").exists()
    assert (root / "raw" / "iris.csv").read_bytes() == IRIS_CSV.read_bytes()


def test_script_converts_a_generic_csv_and_reports_bad_ones(tmp_path: Path) -> None:
    csv_path = tmp_path / "blobs.csv"
    _blobs_csv(csv_path)
    r = _script("--csv", str(csv_path), "--target", "kind", "--datastore", str(tmp_path / "s"), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert data.load_dataset("blobs", datastore=tmp_path / "s").meta["n_rows"] == 40
    (tmp_path / "bad.csv").write_text("a,y\n1,x\n")
    r = _script("--csv", str(tmp_path / "bad.csv"), "--target", "y", "--datastore", str(tmp_path / "s2"), cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.startswith("download_and_convert_dataset: error: bad.csv: only one class")
    assert not (tmp_path / "s2").exists()
