"""Rows in, predictions out, for ``irisonnx predict``: CSV/.npy/--values parsing and atomic
writing of CSV/JSON/.npy results for classifiers, and of every output (.npz, JSON) for any
model. numpy and the standard library only (no torch, no onnx).

Every bad input is a DataError (exit 2) whose one-line message names the line, the column
and the value. CSV lines are numbered as an editor shows them (the first line is 1).
"""

from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from irisonnx.config import parse_number
from irisonnx.errors import DataError, UsageError
from irisonnx.storage import atomic_write_text, atomic_writer, check_regular_file, dumps_json, read_input_file

__all__ = ["InputRows", "parse_values", "read_input", "predictions_doc", "write_predictions", "unclassified", "OUTPUT_FORMATS", "NO_CLASS", "JSON_MAX_VALUES", "dtype_name", "plain_outputs", "outputs_doc", "write_npz", "class_scores", "softmax"]

OUTPUT_FORMATS = (".csv", ".json", ".npy")
JSON_MAX_VALUES = 100_000  # predict --json prints at most this many output values (all outputs together)
PROBABILITY_SUM_TOL = 1e-4  # --classify: rows that sum to 1 within this are probabilities already
_F32_MAX = float(np.finfo(np.float32).max)  # values a little above it still round down to it
# Why a row has no class: its outputs are NaN or infinite (finite inputs far outside the
# training range overflow float32 inside the model). argmax of NaNs is not a class.
NO_CLASS = "the model's outputs are not finite (NaN or infinity)"


def unclassified(probs: np.ndarray) -> np.ndarray:
    """Indices (from 0) of the rows whose probabilities are not all finite: they have no class."""
    return np.flatnonzero(~np.isfinite(probs).all(axis=1))


@dataclass
class InputRows:
    x: np.ndarray  # (rows, n_features); float32 from CSV/--values, as stored for .npy
    source: str
    header: list[str] | None = None  # the CSV's header, when it had one
    ignored_columns: list[str] = field(default_factory=list)


def _number(cell: str, where: str, column: str) -> float:
    text = cell.strip()
    if not text:
        raise DataError(f"{where}, column {column!r} is empty", "missing values cannot be classified", "fill or drop the row")
    try:
        v = parse_number(text)
    except ValueError:
        raise DataError(f"{where}, column {column!r} is not a number", repr(cell), "plain digits with an optional sign, point and exponent") from None
    if not math.isfinite(v):
        raise DataError(f"{where}, column {column!r} is not finite", repr(cell), "NaN and infinite values cannot be classified")
    if abs(v) > _F32_MAX and np.isinf(np.float32(v) if abs(v) < 1e39 else np.inf):  # finite, but float32 stores it as inf
        raise DataError(f"{where}, column {column!r} is too large for float32", repr(cell), "values beyond +-3.4e38 cannot be classified")
    return v


def parse_values(text: str, feature_names: list[str]) -> InputRows:
    """One row from ``"5.1,3.5,1.4,0.2"``."""
    cells = [c for c in text.split(",")]
    if not text.strip():
        raise DataError("--values is empty", f"give {len(feature_names)} comma-separated numbers ({', '.join(feature_names)})")
    if len(cells) != len(feature_names):
        raise DataError(f"--values has {len(cells)} values", f"the model takes {len(feature_names)} ({', '.join(feature_names)})")
    row = [_number(c, "--values", name) for c, name in zip(cells, feature_names)]
    return InputRows(np.array([row], dtype=np.float32), "--values")


def read_csv(path: Path, feature_names: list[str]) -> InputRows:
    """A CSV with or without a header. With one, columns are picked by name (others are
    ignored and reported); without, each line must have exactly one value per feature."""
    try:
        text = read_input_file(path, "input CSV").decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not UTF-8 text", str(exc)) from None
    from irisonnx.data.datastore import csv_rows  # the one CSV tokeniser

    rows = csv_rows(text, str(path))
    if not rows:
        raise DataError(f"{path} is empty", "no rows to predict")
    first = [c.strip() for c in rows[0]]
    header = None
    order = list(range(len(feature_names)))
    ignored: list[str] = []
    start = 1
    from irisonnx.data.datastore import _is_number  # one definition of a number in a CSV cell (lazily: --values does not need the dataset module)

    if not all(_is_number(c) for c in first if c):  # an empty cell is a missing value, not a name
        header = first
        if len(set(header)) != len(header):
            raise DataError(f"{path}: header has duplicate column names", ", ".join(header))
        missing = [f for f in feature_names if f not in header]
        if missing:
            raise DataError(f"{path}: header lacks column(s) {', '.join(missing)}", f"header is {', '.join(header)}; the model's features are {', '.join(feature_names)}", "rename the columns, or drop the header line to give values in the model's order")
        order = [header.index(f) for f in feature_names]
        ignored = [h for h in header if h not in feature_names]
        start = 2
        rows = rows[1:]
        if not rows:
            raise DataError(f"{path} has a header but no data rows")
    n_cols = len(header) if header else len(feature_names)
    x = np.empty((len(rows), len(feature_names)), dtype=np.float64)
    for r, row in enumerate(rows):
        line = r + start
        if len(row) != n_cols:
            if header:
                raise DataError(f"{path}: line {line} has {len(row)} values", f"the header has {n_cols} columns")
            raise DataError(f"{path}: line {line} has {len(row)} values", f"the model takes {len(feature_names)} ({', '.join(feature_names)})")
        for j, c in enumerate(order):
            x[r, j] = _number(row[c], f"{path}: line {line}", feature_names[j])
    with np.errstate(over="ignore"):
        x32 = x.astype(np.float32)
    if not np.isfinite(x32).all():  # finite in float64 but beyond float32's 3.4e38
        r, j = np.argwhere(~np.isfinite(x32))[0]
        raise DataError(f"{path}: line {r + start}, column {feature_names[j]!r} overflows float32", repr(float(x[r, j])))
    return InputRows(x32, str(path), header, ignored)


def read_npy(path: Path) -> InputRows:
    """A .npy array as stored (dtype and rank are checked by the Predictor). No pickles."""
    try:
        # Memory-mapped first: a header that claims more data than the file holds (shape
        # (1e11, 4) on 16 bytes) fails here, where a plain load would try to allocate 1.5 TiB
        # (MemoryError, exit 70). The copy below is then bounded by the file's size.
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
        if isinstance(arr, np.memmap):
            arr = np.array(arr)
    except Exception as exc:  # noqa: BLE001 - numpy's header parser raises ValueError, EOFError, OSError, SyntaxError, tokenize.TokenError...: all mean a bad file
        why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataError(f"{path} is not a numeric .npy array", why, "save one with numpy.save: float32, shape (rows, n_features)") from None
    if not isinstance(arr, np.ndarray):
        raise DataError(f"{path} is not a single .npy array", type(arr).__name__)
    return InputRows(arr, str(path))


def read_input(path: str | os.PathLike, feature_names: list[str]) -> InputRows:
    p = Path(path)
    if not p.exists():
        raise UsageError("input file not found", str(p))
    if p.is_dir():
        raise UsageError("input path is a folder", str(p), "give a .csv or .npy file")
    check_regular_file(p, "input file")  # a FIFO hung, /dev/zero grew without bound
    suffix = p.suffix.lower()
    if suffix == ".csv":
        return read_csv(p, feature_names)
    if suffix == ".npy":
        return read_npy(p)
    raise UsageError("unknown input format", f"{p.name!r}", "give a .csv or .npy file")


def predictions_doc(labels: np.ndarray, probs: np.ndarray, class_names: list[str], **about: Any) -> dict[str, Any]:
    """The JSON document: ``about`` (model, provider, ...) plus one entry per row (rows from 1).
    A row without a class (:func:`unclassified`) has ``null`` label, class and probabilities
    and a ``reason``: strict JSON (RFC 8259) has no NaN."""
    bad = set(unclassified(probs).tolist())
    preds = [
        {"row": i + 1, "label": None, "class": None, "probabilities": {c: None for c in class_names}, "reason": NO_CLASS}
        if i in bad
        else {"row": i + 1, "label": int(lab), "class": class_names[int(lab)], "probabilities": {c: float(p) for c, p in zip(class_names, row)}}
        for i, (lab, row) in enumerate(zip(labels, probs))
    ]
    return {**about, "class_names": class_names, "n_rows": len(preds), "n_unclassified": len(bad), "predictions": preds}


def _csv_text(labels: np.ndarray, probs: np.ndarray, class_names: list[str]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["row", "label", "class", *[f"prob_{c}" for c in class_names], "reason"])
    bad = set(unclassified(probs).tolist())
    for i, (lab, row) in enumerate(zip(labels, probs)):
        if i in bad:  # no class: empty cells (not "nan", which readers would take as a number) and why
            w.writerow([i + 1, "", "", *[""] * len(class_names), NO_CLASS])
        else:
            w.writerow([i + 1, int(lab), class_names[int(lab)], *[f"{float(p):.9g}" for p in row], ""])  # 9 digits round-trip float32
    return buf.getvalue()


def write_predictions(path: str | os.PathLike, labels: np.ndarray, probs: np.ndarray, class_names: list[str], **about: Any) -> str:
    """Write atomically; the format follows the suffix. .npy holds the float32
    (rows, n_classes) probabilities (labels are their argmax, classes in class_names order;
    a row without a class keeps its NaN there)."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        raise UsageError("unknown output format", f"{p.name!r}", f"use one of {', '.join(OUTPUT_FORMATS)}")
    if p.is_dir():
        raise UsageError("output path is a folder", str(p))
    if suffix == ".csv":
        atomic_write_text(p, _csv_text(labels, probs, class_names))
    elif suffix == ".json":
        atomic_write_text(p, dumps_json(predictions_doc(labels, probs, class_names, **about)))
    else:
        with atomic_writer(p) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, np.ascontiguousarray(probs, dtype=np.float32), allow_pickle=False)
    return suffix[1:]


# --- any model: every output by name ----------------------------------------------------------


def dtype_name(arr: np.ndarray) -> str:
    return "string" if arr.dtype.kind == "U" else str(arr.dtype)


def plain_outputs(outputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Outputs as arrays a .npz holds without pickle: string tensors (onnxruntime gives object
    arrays of str) become fixed-width unicode; any other object array is refused naming it."""
    out: dict[str, np.ndarray] = {}
    for name, arr in outputs.items():
        arr = np.asarray(arr)
        if arr.dtype == object:
            if not all(isinstance(v, str) for v in arr.flat):
                raise DataError(f"output {name!r} holds Python objects, not numbers or strings", f"{type(next(iter(arr.flat), None)).__name__} values", "irisonnx writes tensors of numbers, bool and strings")
            arr = arr.astype(np.str_) if arr.size else np.zeros(arr.shape, dtype="U1")
        out[name] = arr
    return out


def outputs_doc(outputs: dict[str, np.ndarray], columns: dict[str, list[str]] | None = None, max_values: int = JSON_MAX_VALUES, **about: Any) -> dict[str, Any]:
    """``about`` plus every output as {name, dtype, shape, values (nested lists)}; a map output
    made a (rows, keys) array also has its ``columns``. More than ``max_values`` values in all
    is a UsageError pointing to --output FILE.npz."""
    total = sum(int(a.size) for a in outputs.values())
    if total > max_values:
        raise UsageError(f"the outputs hold {total:,} values, more than --json prints ({max_values:,})", "", "write them with --output FILE.npz (every output by name; numpy.load reads it)")
    docs = []
    for name, arr in outputs.items():
        d: dict[str, Any] = {"name": name, "dtype": dtype_name(arr), "shape": list(arr.shape), "values": arr.tolist()}
        if arr.dtype.kind == "f" and arr.size and not np.isfinite(arr).all():
            # JSON (RFC 8259) has no NaN or infinity: such values are null, and counted
            bad = ~np.isfinite(arr)
            d["values"] = np.where(bad, None, arr.astype(object)).tolist()
            d["non_finite"] = {"count": int(bad.sum()), "nan": int(np.isnan(arr).sum()), "as": "null"}
        if columns and name in columns:
            d["columns"] = columns[name]
        docs.append(d)
    return {**about, "outputs": docs}


def write_npz(path: str | os.PathLike, outputs: dict[str, np.ndarray]) -> None:
    """Every output by name in one .npz, written atomically, without pickle. This is the
    layout np.savez writes (a zip of NAME.npy members) but written member by member:
    np.savez(file, **arrays) would take outputs named 'file' or 'allow_pickle' as its own
    parameters."""
    import zipfile

    p = Path(path)
    if p.suffix.lower() != ".npz":
        raise UsageError("unknown output format", f"{p.name!r}", "every output is written to a .npz file")
    if p.is_dir():
        raise UsageError("output path is a folder", str(p))
    arrays = plain_outputs(outputs)
    with atomic_writer(p) as tmp:
        with zipfile.ZipFile(tmp, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
            for name, arr in arrays.items():
                with zf.open(name + ".npy", "w", force_zip64=True) as fh:
                    np.lib.format.write_array(fh, np.asanyarray(arr), allow_pickle=False)


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row softmax computed in float64 (max subtracted, so no overflow), returned as float32."""
    n, c = logits.shape
    out = np.empty((n, c), dtype=np.float32)
    _softmax_into(logits, out, np.empty((n, c)), np.empty(n), np.empty(n))
    return out


def _softmax_into(logits: np.ndarray, out: np.ndarray, z: np.ndarray, m: np.ndarray, s: np.ndarray) -> None:
    """softmax(logits) written into ``out`` (float32), with caller-owned float64 scratch:
    ``z`` (rows, n_classes), ``m`` and ``s`` (rows,). The chunk workers reuse theirs, so a
    1M-row predict allocates nothing but its outputs (fresh pages cost page faults here)."""
    # Column by column: numpy's reductions along a short last axis (3 classes) pay a loop per
    # row, ~4x slower on 1M rows. The same operations in the same order for every row, so any
    # chunking gives bitwise the same result as one call over the whole array.
    np.copyto(z, logits)  # float32 -> float64, exact
    np.copyto(m, z[:, 0])
    for j in range(1, z.shape[1]):
        np.maximum(m, z[:, j], out=m)
    z -= m[:, None]
    np.exp(z, out=z)
    np.copyto(s, z[:, 0])
    for j in range(1, z.shape[1]):
        s += z[:, j]
    z /= s[:, None]
    np.copyto(out, z, casting="same_kind")  # rounds to float32 as astype does


def class_scores(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """(labels int64 (rows,), probabilities float32 (rows, classes), softmax applied) for a
    2-D float output read as class scores (``predict --classify``). Rows that are already a
    probability distribution (every value in [0, 1], each row summing to 1 within 1e-4) are
    kept as the model gives them; anything else gets a row softmax (float64 inside). Labels
    are the argmax of the scores as given (ties: the first class)."""
    scores = np.asarray(scores)
    labels = scores.argmax(axis=1).astype(np.int64) if scores.shape[1] else np.zeros(len(scores), np.int64)
    finite = bool(np.isfinite(scores).all())
    if finite and scores.size and (scores >= 0).all() and (scores <= 1).all() and np.abs(scores.astype(np.float64).sum(axis=1) - 1.0).max() <= PROBABILITY_SUM_TOL:
        return labels, scores.astype(np.float32, copy=False), False
    return labels, softmax(scores), True
