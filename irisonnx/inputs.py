"""Input rows for comparisons: the dataset's splits, seeded random rows, or a file.

Random rows (``random:N``) probe the function inside and well beyond the training range:
fixed probes first (zeros, each feature's min and max, 10x and -10x the max, +-1e6, tiny
values), then half uniform within the range, a quarter within three times the range either
side, the rest log-uniform magnitudes from 1e-6 to 1e6 with random signs.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from irisonnx.errors import DataError, UsageError

__all__ = ["random_rows", "read_rows", "make_inputs"]

_GEN_ROWS = 1 << 16  # rows of random inputs drawn at a time (float64 temporaries of ~2 MB)


def random_rows(n: int, lo: Sequence[float], hi: Sequence[float], seed: int = 0) -> np.ndarray:
    """``n`` seeded rows (float32, (n, n_features)) within and beyond [lo, hi] per feature."""
    lo_a, hi_a = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    span = np.maximum(hi_a - lo_a, 1e-3)
    f = lo_a.shape[0]
    probes = np.stack(
        [np.zeros(f), lo_a, hi_a, (lo_a + hi_a) / 2, 10 * hi_a, -10 * hi_a, np.full(f, 1e6), np.full(f, -1e6), np.full(f, 1e-30), np.full(f, -1e-30)]
    )
    rng = np.random.default_rng(seed)
    m = max(n - len(probes), 0)
    n_in, n_out = m // 2, m // 4
    n_log = m - n_in - n_out
    # Written straight into the float32 result, _GEN_ROWS rows at a time: for 1M rows the
    # float64 parts and their concatenation peaked at ~76 MB for a 16 MB result. The draws
    # come in the same order as whole-array calls (every exponent, then every sign), so the
    # rows are bit for bit those of the whole-array formula (tests/test_performance.py).
    out = np.empty((n, f), dtype=np.float32)  # (n, n_features)
    out[: min(n, len(probes))] = probes[:n]
    pos = len(probes)

    def fill(count: int, draw: Any) -> None:
        nonlocal pos
        for s in range(0, count, _GEN_ROWS):
            c = min(_GEN_ROWS, count - s)
            out[pos : pos + c] = draw(c)
            pos += c

    def uniform(low: Any, high: Any) -> Any:
        # rng.uniform(low, high, size) is low + (high - low) * rng.random(): the same draws and
        # the same two roundings done in place, ~2x faster than its broadcasting loop
        # (bitwise equal, tests/test_performance.py).
        width = high - low

        def draw(c: int) -> np.ndarray:
            u = rng.random((c, f))
            u *= width
            u += low
            return u

        return draw

    fill(n_in, uniform(lo_a, hi_a))
    fill(n_out, uniform(lo_a - 3 * span, hi_a + 3 * span))
    start = pos
    exponent = uniform(-6.0, 6.0)
    fill(n_log, lambda c: np.power(10.0, exponent(c)))
    for s in range(0, n_log, _GEN_ROWS):  # a sign flip is exact in float32 too
        c = min(_GEN_ROWS, n_log - s)
        # The draws of rng.choice([-1.0, 1.0], size): it takes integers(0, 2) and indexes;
        # negating where it would pick -1.0 gives the same rows at a third of its cost.
        block = out[start + s : start + s + c]
        np.negative(block, out=block, where=rng.integers(0, 2, size=(c, f)) == 0)
    return out


def read_rows(path: str | os.PathLike, feature_names: Sequence[str]) -> np.ndarray:
    """Rows from ``.npy`` or ``.csv`` (see :mod:`irisonnx.predict_io`), checked: float32
    (n_rows, n_features), finite, at least one row."""
    from irisonnx.predict_io import read_input

    rows = read_input(path, list(feature_names)).x
    if rows.dtype.kind not in "fiu" or rows.ndim != 2 or rows.shape[1] != len(feature_names):
        raise DataError(f"{path}: {rows.dtype} array of shape {rows.shape}", f"expected numbers of shape (rows, {len(feature_names)})")
    if rows.shape[0] == 0:
        raise DataError(f"{path}: no rows")
    rows = np.ascontiguousarray(rows, dtype=np.float32)
    bad = ~np.isfinite(rows)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise DataError(f"{path}: row index {r}, column {feature_names[c]!r} is not finite", repr(float(rows[r, c])))
    return rows


def make_inputs(spec: str, *, dataset: Any = None, feature_names: Sequence[str], ranges: tuple[Sequence[float], Sequence[float]] | None = None, seed: int = 0) -> tuple[np.ndarray, str]:
    """Resolve ``--inputs``: ``test``, ``all``, ``random:N`` or a file. Returns (rows, description)."""
    if spec in ("test", "all", "train"):
        if dataset is None:
            raise UsageError(f"--inputs {spec} needs the dataset", "pass a run folder, or use random:N or a file")
        idx = {"test": dataset.test_idx, "train": dataset.train_idx, "all": np.arange(len(dataset.labels))}[spec]
        return np.ascontiguousarray(dataset.features[idx]), f"{dataset.name} {spec} split ({len(idx)} rows)"
    if spec.startswith("random:"):
        from irisonnx.config import check_number, parse_int

        try:
            n = parse_int(spec.split(":", 1)[1])
        except ValueError:
            raise UsageError("bad --inputs", repr(spec), "use random:N with an integer N") from None
        check_number("random_rows", n, "--inputs random:N")  # they are made in memory at once
        if ranges is None:
            ranges = ([0.0] * len(feature_names), [10.0] * len(feature_names))
        return random_rows(n, ranges[0], ranges[1], seed), f"{n} random rows (seed {seed}) within and beyond the training range"
    if spec.endswith((".npy", ".csv")) or Path(spec).exists():
        rows = read_rows(spec, feature_names)
        return rows, f"{spec} ({rows.shape[0]} rows)"
    raise UsageError("bad --inputs", repr(spec), "use test, all, random:N, or a .npy/.csv file")
