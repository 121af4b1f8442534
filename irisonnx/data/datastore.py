"""CSV -> validated arrays, a seeded stratified split, feature statistics, the datastore layout.

Layout::

    <datastore>/raw/iris.csv                 bundled Fisher's Iris (sha256 pinned below)
    <datastore>/processed/<name>/features.npy  float32 (n_rows, n_features)
    <datastore>/processed/<name>/labels.npy    int64   (n_rows,)
    <datastore>/processed/<name>/meta.json     names, split, stats, checksums

Re-running a conversion gives byte-identical files (no timestamps, stable JSON).
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from irisonnx.assets import default_datastore
from irisonnx.config import parse_number
from irisonnx.errors import ArtifactError, DataError, UsageError
from irisonnx.storage import atomic_write_json, atomic_writer, read_input_file, read_json, sha256_bytes, sha256_file

__all__ = [
    "IRIS_SHA256",
    "IRIS_FEATURE_UNITS",
    "Dataset",
    "ParsedCSV",
    "default_datastore",
    "parse_csv",
    "csv_rows",
    "stratified_split",
    "convert",
    "convert_iris",
    "load_dataset",
    "resolve_dataset_dir",
]

# sha256 of datastore/raw/iris.csv: the 150 rows scikit-learn ships (UCI errata in rows 35
# and 38 corrected), header sepal_length,sepal_width,petal_length,petal_width,species.
IRIS_SHA256 = "9cc1c345c71bcc9b486b74cbf6063fa66f4bb5e0f603a4b3c3471ec2e5e8e355"
IRIS_FEATURE_UNITS = {"sepal_length": "cm", "sepal_width": "cm", "petal_length": "cm", "petal_width": "cm"}
META_FORMAT = "irisonnx-dataset/1"


@dataclass(frozen=True)
class ParsedCSV:
    features: np.ndarray  # (n_rows, n_features) float32
    labels: np.ndarray  # (n_rows,) int64
    feature_names: list[str]
    class_names: list[str]


def _is_number(text: str) -> bool:
    try:
        parse_number(text)
    except ValueError:
        return False
    return True


def csv_rows(text: str, source: str = "CSV") -> list[list[str]]:
    """The one CSV tokeniser (datasets, predict's and compare's input rows): cells by row, with
    trailing blank lines dropped (common in hand-edited files; blank lines inside stay, as
    ragged rows for the caller to name). A malformed file is DataError (exit 2)."""
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:  # a cell over csv's field size limit (131,072 characters) was exit 70
        raise DataError(f"{source} is not a CSV irisonnx can read", str(exc)) from None
    while rows and not any(c.strip() for c in rows[-1]):
        rows.pop()
    return rows


def parse_csv(text: str, target: str, source: str = "CSV") -> ParsedCSV:
    """Parse a numeric classification CSV with a header row. Errors name row and column.

    Rows are numbered as a spreadsheet shows them: the header is row 1.
    """
    rows = csv_rows(text, source)
    if not rows:  # also a file of blanks and commas only, which used to crash on rows[0]
        raise DataError(f"{source} is empty", "no header and no rows", "give a CSV with a header line and data rows")
    header = [h.strip() for h in rows[0]]
    if target not in header:
        raise DataError(f"{source}: row 1 (the header) has no target column {target!r}", f"columns are {', '.join(header)}", "pass --target with one of them")
    if len(set(header)) != len(header) or any(not h for h in header):
        raise DataError(f"{source}: bad header", f"column names must be unique and non-empty, got {header}")
    body = rows[1:]
    if not body:
        raise DataError(f"{source} has a header but no data rows", "row 2 onward is empty", "add data rows below the header")
    t = header.index(target)
    feature_names = [h for i, h in enumerate(header) if i != t]
    if not feature_names:
        raise DataError(f"{source}: no feature columns", "the target is the only column")
    feats = np.empty((len(body), len(feature_names)), dtype=np.float64)
    raw_labels: list[str] = []
    for r, row in enumerate(body, start=2):
        if len(row) != len(header):
            where = f"no value for column {header[len(row)]!r}" if len(row) < len(header) else f"extra cell after column {header[-1]!r}"
            raise DataError(f"{source}: row {r} has {len(row)} cells, the header has {len(header)}", where, "every row needs one value per column")
        j = 0
        for c, cell in enumerate(row):
            cell = cell.strip()
            if not cell:
                raise DataError(f"{source}: row {r}, column {header[c]!r} is empty", "missing values are not supported", "fill or drop the row")
            if c == t:
                raw_labels.append(cell)
                continue
            try:
                v = parse_number(cell)
            except ValueError:
                raise DataError(f"{source}: row {r}, column {header[c]!r} is not a number", repr(cell)) from None
            if not math.isfinite(v):
                raise DataError(f"{source}: row {r}, column {header[c]!r} is not finite", repr(cell))
            feats[r - 2, j] = v
            j += 1
    # Stable class order: numeric labels by value, text labels alphabetically.
    uniq = set(raw_labels)
    if all(_is_number(u) for u in uniq):
        class_names = sorted(uniq, key=lambda s: (float(s), s))
    else:
        class_names = sorted(uniq)
    if len(class_names) < 2:
        raise DataError(f"{source}: only one class in column {target!r}", f"rows 2-{len(body) + 1} are all {class_names[0]!r}", "a classifier needs at least two")
    # A stratified split needs every class on both sides. A class with one row would be
    # missing from the test split, and with as many rows as classes the test split was
    # empty, so training wrote NaN test metrics and crashed (exit 70) instead of exit 2.
    counts = Counter(raw_labels)
    for name in class_names:
        if counts[name] < 2:
            raise DataError(
                f"{source}: row {raw_labels.index(name) + 2}, column {target!r}: class {name!r} has only 1 row",
                f"{len(body)} rows for {len(class_names)} classes",
                "every class needs at least 2 rows, one to train on and one to test on",
            )
    index = {name: i for i, name in enumerate(class_names)}
    labels = np.array([index[s] for s in raw_labels], dtype=np.int64)
    with np.errstate(over="ignore"):
        feats32 = feats.astype(np.float32)
    if not np.isfinite(feats32).all():  # finite as float64 but beyond float32's 3.4e38: it was stored as inf
        r, j = np.argwhere(~np.isfinite(feats32))[0]
        raise DataError(f"{source}: row {r + 2}, column {feature_names[j]!r} overflows float32", repr(float(feats[r, j])), "values beyond +-3.4e38 cannot be stored")
    return ParsedCSV(feats32, labels, feature_names, class_names)


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded stratified split; each class keeps its share (at least one row each side when it can)."""
    rng = np.random.default_rng(seed)
    train, test = [], []
    for c in range(int(labels.max()) + 1):
        idx = np.flatnonzero(labels == c)
        idx = idx[rng.permutation(len(idx))]
        n_test = int(round(len(idx) * test_fraction))
        if len(idx) >= 2:
            n_test = min(max(n_test, 1), len(idx) - 1)
        else:
            n_test = 0
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return np.sort(np.concatenate(train)).astype(np.int64), np.sort(np.concatenate(test)).astype(np.int64)


def _npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


@dataclass(frozen=True)
class Dataset:
    """A processed dataset as the rest of irisonnx sees it."""

    dir: Path
    features: np.ndarray  # (n_rows, n_features) float32
    labels: np.ndarray  # (n_rows,) int64
    meta: dict[str, Any]

    @property
    def name(self) -> str:
        return self.meta["name"]

    @property
    def train_idx(self) -> np.ndarray:
        return np.asarray(self.meta["split"]["train"], dtype=np.int64)

    @property
    def test_idx(self) -> np.ndarray:
        return np.asarray(self.meta["split"]["test"], dtype=np.int64)

    @property
    def feature_names(self) -> list[str]:
        return list(self.meta["feature_names"])

    @property
    def class_names(self) -> list[str]:
        return list(self.meta["class_names"])

    @property
    def sha256(self) -> str:
        """Fingerprint of the whole dataset: the sha256 of its meta.json, which pins the arrays."""
        return sha256_file(self.dir / "meta.json")


def convert(
    text: str,
    *,
    name: str,
    target: str,
    source_name: str,
    datastore: str | os.PathLike | None = None,
    test_fraction: float = 0.2,
    seed: int = 42,
    feature_units: dict[str, str] | None = None,
    out_dir: str | os.PathLike | None = None,
    force: bool = False,
) -> Dataset:
    """Validate a CSV's text and write the processed dataset. Nothing is written on bad input.

    A processed dataset made from another source (another CSV's sha256, or another target
    column) is not replaced unless ``force``: runs trained on it would stop loading, and a
    ``pipeline --csv wine.csv`` once overwrote ``processed/iris`` that way."""
    if not name or "/" in name or "\\" in name or name.startswith("."):
        raise UsageError("bad dataset name", repr(name), "use a plain name such as 'iris'")
    if not 0.0 < test_fraction < 1.0:
        raise UsageError("bad test fraction", repr(test_fraction), "use a value strictly between 0 and 1")
    parsed = parse_csv(text, target, source_name)
    train_idx, test_idx = stratified_split(parsed.labels, test_fraction, seed)
    if len(train_idx) == 0:
        raise DataError(f"{source_name}: too few rows to split", f"{len(parsed.labels)} rows")
    x_train = parsed.features[train_idx].astype(np.float64)
    mean = x_train.mean(axis=0)
    std = x_train.std(axis=0)
    feats_b, labels_b = _npy_bytes(parsed.features), _npy_bytes(parsed.labels)
    units = {k: v for k, v in (feature_units or {}).items() if k in parsed.feature_names}
    meta = {
        "format": META_FORMAT,
        "name": name,
        "target": target,
        "feature_names": parsed.feature_names,
        "feature_units": units,
        "class_names": parsed.class_names,
        "n_rows": int(parsed.features.shape[0]),
        "n_features": int(parsed.features.shape[1]),
        "n_classes": len(parsed.class_names),
        "class_counts": np.bincount(parsed.labels, minlength=len(parsed.class_names)).tolist(),
        "source": {"name": source_name, "sha256": sha256_bytes(text.encode("utf-8"))},
        "split": {"seed": seed, "test_fraction": test_fraction, "train": train_idx.tolist(), "test": test_idx.tolist()},
        "stats": {
            "mean": [float(v) for v in mean],
            "std": [float(v) for v in std],
            "min": [float(v) for v in parsed.features.min(axis=0)],
            "max": [float(v) for v in parsed.features.max(axis=0)],
        },
        "files": {"features.npy": sha256_bytes(feats_b), "labels.npy": sha256_bytes(labels_b)},
    }
    out = Path(out_dir) if out_dir is not None else (Path(datastore) if datastore else default_datastore()) / "processed" / name
    if not force:
        _refuse_other_source(out, meta)
    # Arrays first, meta last: meta.json pins the arrays' checksums, so a kill between
    # writes leaves a dataset that load_dataset() rejects rather than a silently wrong one.
    for fname, blob in (("features.npy", feats_b), ("labels.npy", labels_b)):
        with atomic_writer(out / fname) as tmp:
            tmp.write_bytes(blob)
    atomic_write_json(out / "meta.json", meta)
    return Dataset(out, parsed.features, parsed.labels, meta)


def _refuse_other_source(out: Path, meta: dict[str, Any]) -> None:
    if not (out / "meta.json").exists():
        return
    try:
        old = read_json(out / "meta.json", "dataset meta.json")
        src, target = old["source"], old.get("target")
        same = src.get("sha256") == meta["source"]["sha256"] and target == meta["target"]
        was = f"{src.get('name', '?')} (sha256 {str(src.get('sha256'))[:12]}…, target {target!r})"
    except (ArtifactError, UsageError, KeyError, TypeError, AttributeError):
        same, was = False, "an unreadable meta.json"
    if not same:
        now = f"{meta['source']['name']} (sha256 {meta['source']['sha256'][:12]}…, target {meta['target']!r})"
        raise UsageError(
            f"dataset {meta['name']!r} already exists from another source",
            f"{out} was made from {was}, not {now}",
            "pass --force to replace it (runs trained on it will stop loading), or choose another --name",
        )


def read_source_csv(path: str | os.PathLike) -> str:
    p = Path(path)
    raw = read_input_file(p, "CSV")  # a regular file within --max-input-mb, else exit 2
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{p} is not UTF-8 text", str(exc)) from None


def iris_text(datastore: str | os.PathLike | None = None, url: str | None = None, timeout: float = 10.0, notes: list[str] | None = None) -> tuple[str, str]:
    """The bundled Iris CSV, verified against the pinned sha256. Returns (text, where it came from).

    With ``url``, try to download it first; a download that fails (no network) falls back to
    the bundled copy (and says why in ``notes``), a download whose sha256 differs is refused.
    """
    root = Path(datastore) if datastore else default_datastore()
    if url:
        import urllib.error
        import urllib.request

        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - user-given URL
                blob = resp.read(1 << 20)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            blob = None
            if notes is not None:
                notes.append(f"could not download {url} ({getattr(exc, 'reason', None) or exc}); used the bundled copy")
        if blob is not None:
            digest = sha256_bytes(blob)
            if digest != IRIS_SHA256:
                raise ArtifactError("downloaded Iris CSV does not match the pinned sha256", f"{url}: {digest[:12]}… != {IRIS_SHA256[:12]}…")
            raw = root / "raw" / "iris.csv"
            with atomic_writer(raw) as tmp:
                tmp.write_bytes(blob)
            return blob.decode("utf-8"), url
    path = root / "raw" / "iris.csv"  # a datastore's own copy (a download), else the package's
    if not path.exists():
        from irisonnx.assets import asset

        path = asset("iris.csv")
    if not path.exists():
        raise UsageError("bundled Iris CSV not found", str(path), "reinstall irisonnx, or pass --datastore with raw/iris.csv in it")
    blob = path.read_bytes()
    digest = sha256_bytes(blob)
    if digest != IRIS_SHA256:
        raise ArtifactError("bundled Iris CSV was modified", f"{path}: sha256 {digest[:12]}… != pinned {IRIS_SHA256[:12]}…", "restore it (git checkout, or reinstall irisonnx)")
    return blob.decode("utf-8"), str(path)


def convert_iris(datastore: str | os.PathLike | None = None, url: str | None = None, test_fraction: float = 0.2, seed: int = 42, notes: list[str] | None = None, force: bool = False) -> Dataset:
    text, _ = iris_text(datastore, url, notes=notes)
    return convert(
        text,
        name="iris",
        target="species",
        source_name="iris.csv",
        datastore=datastore,
        test_fraction=test_fraction,
        seed=seed,
        feature_units=IRIS_FEATURE_UNITS,
        force=force,
    )


def resolve_dataset_dir(name_or_dir: str | os.PathLike, datastore: str | os.PathLike | None = None) -> Path:
    p = Path(name_or_dir)
    if (p / "meta.json").exists():
        return p
    return (Path(datastore) if datastore else default_datastore()) / "processed" / str(name_or_dir)


def load_dataset(name_or_dir: str | os.PathLike, datastore: str | os.PathLike | None = None, prepare_iris: bool = True) -> Dataset:
    """Load a processed dataset, checking the arrays against meta.json's checksums.

    The bundled ``iris`` is converted on first use so a fresh clone needs no extra step.
    """
    d = resolve_dataset_dir(name_or_dir, datastore)
    if not (d / "meta.json").exists():
        if prepare_iris and str(name_or_dir) == "iris":
            return convert_iris(datastore)
        raise UsageError(f"dataset {str(name_or_dir)!r} not found", f"no {d / 'meta.json'}", "create it with: irisonnx data --csv PATH --target COLUMN --name NAME")
    meta = read_json(d / "meta.json", "dataset meta.json")
    if not isinstance(meta, dict) or meta.get("format") != META_FORMAT:
        raise ArtifactError("not an irisonnx dataset", str(d / "meta.json"))
    arrays = {}
    for fname in ("features.npy", "labels.npy"):
        path = d / fname
        if not path.exists():
            raise UsageError("dataset file missing", str(path))
        blob = path.read_bytes()
        if sha256_bytes(blob) != meta["files"].get(fname):
            raise ArtifactError("dataset file is corrupt or was modified", str(path), "re-create it with irisonnx data")
        try:
            arrays[fname] = np.load(io.BytesIO(blob), allow_pickle=False)
        except Exception as exc:  # noqa: BLE001 - objects (need pickle: refused), not .npy (numpy raises many types), or a header claiming more than the bytes (MemoryError; nothing touched)
            raise ArtifactError("dataset file is not a plain .npy array", f"{path}: {str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__}", "re-create it with irisonnx data") from None
        if not isinstance(arrays[fname], np.ndarray):  # an .npz archive under an .npy name
            raise ArtifactError("dataset file is not a plain .npy array", f"{path}: {type(arrays[fname]).__name__}", "re-create it with irisonnx data")
    return Dataset(d, arrays["features.npy"], arrays["labels.npy"], meta)


