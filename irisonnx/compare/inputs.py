"""Inputs for comparisons, benchmarks and calibration, for any model signature.

:func:`make_feeds` resolves ``--inputs`` to an :class:`InputSet`: arrays by input name,
checked against the signature (:func:`irisonnx.modelfile.signature.check_feeds`). Sources: the run's
dataset splits (``test``, ``all``), ``random:N``, a ``.npz`` (arrays by input name), a ``.npy``
(a model with one input), a ``.csv`` (one 2-D numeric input) or Polygraphy's ``--save-inputs``
JSON. :func:`random_feeds` draws N rows for every input, respecting its type: floats within
and beyond a range (below; ``uniform:N`` draws them uniformly inside the range only, for
inputs such as images in [0, 1] where 1e6 is not a meaningful probe), integers uniformly in ``--input-range NAME=LO,HI`` (default 0..9),
bools both values (the first row all False, the second all True). Symbolic dimensions other
than the rows are bound with ``--dim NAME=SIZE``; a fixed first dimension is honoured (a
model with batch 1 is fed row by row).

Random rows (``random:N``) probe the function inside and well beyond the training range:
fixed probes first (zeros, each feature's min and max, 10x and -10x the max, +-1e6, tiny
values), then half uniform within the range, a quarter within three times the range either
side, the rest log-uniform magnitudes from 1e-6 to 1e6 with random signs.
"""

from __future__ import annotations

import os
from pathlib import Path
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

import numpy as np

from irisonnx.config import parse_int
from irisonnx.errors import DataError, UsageError

__all__ = ["random_rows", "read_rows", "make_inputs", "InputSet", "make_feeds", "random_feeds", "parse_dims", "parse_ranges", "DEFAULT_FLOAT_RANGE", "DEFAULT_INT_RANGE"]

DEFAULT_FLOAT_RANGE = (0.0, 10.0)  # floats of a model without a dataset: as for a bare classifier
DEFAULT_INT_RANGE = (0, 9)
_MAX_RANDOM_BYTES = 4 << 30  # random inputs beyond this are a typo (--dim T=10000000), not a test

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
    """Rows from ``.npy`` or ``.csv`` (see :mod:`irisonnx.data.predict_io`), checked: float32
    (n_rows, n_features), finite, at least one row."""
    from irisonnx.data.predict_io import read_input

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
        from irisonnx.config import check_number

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


# --- any signature --------------------------------------------------------------------------


@dataclass
class InputSet:
    """Inputs by name. ``batched``: one sample whose arrays share their first dimension (the
    rows), cut into chunks of ``chunk_rows`` (a fixed batch) or the caller's batch size.
    Otherwise a list of samples, each run whole (ONNX test-data sets, Polygraphy feeds)."""

    samples: list[dict[str, np.ndarray]]
    description: str
    batched: bool
    chunk_rows: int | None = None

    @property
    def n_rows(self) -> int:
        if not self.batched:
            return len(self.samples)
        first = next(iter(self.samples[0].values()), None)
        return int(first.shape[0]) if first is not None and first.ndim else 1

    def chunks(self, batch_size: int) -> Iterator[tuple[int, dict[str, np.ndarray]]]:
        """(start, feeds): the first row of each chunk (batched), or the sample's index."""
        if not self.batched:
            yield from enumerate(self.samples)
            return
        rows = self.chunk_rows or batch_size
        arrays = self.samples[0]
        n = self.n_rows
        for start in range(0, n, rows):
            yield start, {k: np.ascontiguousarray(v[start : start + rows]) for k, v in arrays.items()}

    def as_samples(self) -> "InputSet":
        """Each fixed-size chunk as its own sample (a fixed batch whose outputs are not rows)."""
        return InputSet([f for _, f in self.chunks(self.chunk_rows or self.n_rows)], self.description, False)

    def whole(self) -> "InputSet":
        """The same inputs as one sample run in one call (outputs that do not follow the rows)."""
        return InputSet([dict(self.samples[0])], self.description, False)


def parse_dims(items: Sequence[str] | None) -> dict[str, int]:
    """``--dim NAME=SIZE`` (a symbolic dimension's name, or INPUT:AXIS for an unnamed one)."""
    out: dict[str, int] = {}
    for item in items or ():
        name, eq, size = item.rpartition("=")
        try:
            n = parse_int(size)
        except ValueError:
            n = -1
        if not eq or not name.strip() or n < 1 or n > 1 << 31:
            raise UsageError("bad --dim", repr(item), "use NAME=SIZE with a positive integer size (NAME a symbolic dimension, or INPUT:AXIS)")
        out[name.strip()] = n
    return out


def parse_ranges(items: Sequence[str] | None) -> dict[str, tuple[float, float]]:
    """``--input-range NAME=LO,HI``."""
    from irisonnx.config import parse_named_pair

    out: dict[str, tuple[float, float]] = {}
    for item in items or ():
        got = parse_named_pair(item)
        if got is None or got[1][0] > got[1][1]:
            raise UsageError("bad --input-range", repr(item), "use NAME=LO,HI with finite numbers, LO <= HI")
        out[got[0]] = got[1]
    return out


def _shape_for(spec: Any, n: int, dims: dict[str, int], batch_syms: set[str]) -> tuple[int, ...]:
    shape = []
    for axis, d in enumerate(spec.shape):
        key = f"{spec.name}:{axis}"
        if key in dims:
            shape.append(dims[key])
        elif isinstance(d, int):
            shape.append(d)
        elif axis == 0:
            shape.append(dims.get(d, n) if isinstance(d, str) and d not in batch_syms else n)
        elif isinstance(d, str) and d in dims:
            shape.append(dims[d])
        elif isinstance(d, str) and d in batch_syms:
            shape.append(n)
        else:
            label = repr(d) if isinstance(d, str) else f"{spec.name}:{axis} (unnamed)"
            flag = f"--dim {d}=SIZE" if isinstance(d, str) else f"--dim {spec.name}:{axis}=SIZE"
            raise UsageError(f"input {spec.name!r} has a symbolic dimension {label} that random inputs cannot guess", f"input {spec.describe()}", f"bind it with {flag}")
    return tuple(shape)


def random_feeds(sig: Any, n: int, seed: int = 0, dims: dict[str, int] | None = None, ranges: dict[str, tuple[float, float]] | None = None, within: bool = False) -> tuple[dict[str, np.ndarray], int | None]:
    """``n`` seeded rows for every input (see the module doc). Returns (feeds, chunk_rows):
    chunk_rows is the fixed batch when the model has one (n is then rounded up to a multiple).
    ``within``: floats uniform inside the range only, no probes beyond it (for timing, int8
    calibration and tolerance gates, where +-1e6 would measure saturation, not the model)."""
    dims, ranges = dims or {}, ranges or {}
    unknown = sorted(k for k in ranges if k not in sig.input_names)
    if unknown:
        raise UsageError(f"--input-range for unknown input(s) {', '.join(map(repr, unknown))}", f"the model's inputs are {', '.join(sig.input_names)}")
    fixed = sig.fixed_batch()
    if fixed is not None:
        n = -(-n // fixed) * fixed
    batch_syms = {i.shape[0] for i in sig.inputs if i.shape and isinstance(i.shape[0], str)}
    feeds: dict[str, np.ndarray] = {}
    for k, spec in enumerate(sig.inputs):
        from irisonnx.modelfile.signature import numpy_dtype

        dt = numpy_dtype(spec)
        if dt == np.dtype(object):
            raise UsageError(f"input {spec.name!r} is a string tensor", "random inputs cannot be drawn for it", "give the inputs in a file: --inputs FILE.npz")
        shape = _shape_for(spec, n, dims, batch_syms)
        if fixed is not None and shape:
            shape = (n,) + shape[1:]  # n rows, fed `fixed` at a time
        size = int(np.prod(shape, dtype=np.float64)) if shape else 1
        if size * dt.itemsize > _MAX_RANDOM_BYTES:
            raise UsageError(f"random input {spec.name!r} of shape {list(shape)} would take {size * dt.itemsize / 2**30:.1f} GiB", "more than the 4 GiB irisonnx draws", "use fewer rows or smaller --dim sizes")
        rng = np.random.default_rng([seed, k])
        rows = shape[0] if shape else 1
        width = size // rows if rows else 0
        if dt.kind == "f":
            lo, hi = ranges.get(spec.name, DEFAULT_FLOAT_RANGE)
            if within:
                arr = rng.uniform(lo, hi, size=shape)
            else:
                arr = random_rows(rows, [lo] * width, [hi] * width, seed + k).reshape(shape) if width else np.zeros(shape, np.float32)
            if dt == np.float16:
                arr = np.clip(arr, -60000.0, 60000.0)  # the probes at +-1e6 would be inf in float16
            arr = arr.astype(dt)
        elif dt.kind in "iu":
            lo, hi = ranges.get(spec.name, DEFAULT_INT_RANGE)
            info = np.iinfo(dt)
            lo_i, hi_i = max(int(np.ceil(lo)), int(info.min)), min(int(np.floor(hi)), int(info.max))
            if lo_i > hi_i:
                raise UsageError(f"--input-range for {spec.name!r} holds no {spec.dtype} value", f"{lo}..{hi}")
            arr = rng.integers(lo_i, hi_i, size=shape, dtype=dt, endpoint=True)
        elif dt.kind == "b":
            arr = rng.integers(0, 2, size=shape).astype(bool)
            if rows >= 2 and shape:
                arr[0], arr[1] = False, True
        else:  # pragma: no cover - numpy_dtype returns only the kinds above
            raise UsageError(f"input {spec.name!r} has type {spec.dtype}", "random inputs cannot be drawn for it")
        feeds[spec.name] = np.require(arr, requirements="C")  # keeps rank 0
    return feeds, fixed


def _read_file_feeds(path: str, sig: Any, feature_names: Sequence[str] | None) -> list[dict[str, np.ndarray]]:
    """Arrays by input name from .npz / .npy / .csv / Polygraphy JSON."""
    p = Path(path)
    if not p.exists():
        raise UsageError("--inputs file not found", str(p))
    if not p.is_file():
        raise UsageError("--inputs is not a regular file", str(p), "give a .npz, .npy, .csv or .json file")
    suffix = p.suffix.lower()
    if suffix == ".npz":
        try:
            with np.load(p, allow_pickle=False) as z:
                return [{k: np.asarray(z[k]) for k in z.files}]
        except ValueError as exc:  # object arrays need pickle: refused
            raise DataError(f"{p} holds arrays irisonnx will not load", str(exc).splitlines()[0]) from None
        except Exception as exc:  # noqa: BLE001 - zipfile/numpy raise many types for a corrupt archive
            raise DataError(f"{p} is not a readable .npz archive", f"{type(exc).__name__}: {exc}") from None
    if suffix == ".json":
        from irisonnx.data.io_formats import read_polygraphy_inputs

        return [dict(f) for f in read_polygraphy_inputs(p)]
    if len(sig.inputs) != 1:
        raise DataError(f"{p}: a {suffix or 'plain'} file holds one array", f"the model has {len(sig.inputs)} inputs ({', '.join(sig.input_names)})", "give a .npz with one array per input name")
    spec = sig.inputs[0]
    if suffix == ".npy":
        from irisonnx.data.predict_io import read_npy  # the one .npy reader (bounded, no pickles)

        return [{spec.name: read_npy(p).x}]
    if suffix == ".csv":
        if len(spec.shape) != 2 or not isinstance(spec.shape[1], int) or not spec.is_float and spec.dtype not in ("int32", "int64"):
            raise DataError(f"{p}: CSV inputs are for one 2-D numeric input", f"input {spec.describe()}", "give a .npz or .npy file")
        names = list(feature_names) if feature_names and len(feature_names) == spec.shape[1] else [f"x{i}" for i in range(spec.shape[1])]
        return [{spec.name: read_rows(p, names)}]
    raise UsageError("bad --inputs", repr(path), "use test, all, random:N, or a .npz/.npy/.csv/.json file")


def make_feeds(
    spec: str,
    sig: Any,
    *,
    dataset: Any = None,
    ranges: tuple[Sequence[float], Sequence[float]] | None = None,
    seed: int = 0,
    dims: dict[str, int] | None = None,
    input_ranges: dict[str, tuple[float, float]] | None = None,
    feature_names: Sequence[str] | None = None,
    classifier: bool = False,
) -> InputSet:
    """Resolve ``--inputs`` for a model with signature ``sig`` (see the module doc).
    ``classifier``: irisonnx's own kind, whose random rows use the dataset's feature ranges."""
    from irisonnx.modelfile.signature import check_feeds

    if spec in ("test", "all", "train") or (spec.startswith("random:") and classifier and not dims and not input_ranges):
        x, desc = make_inputs(spec, dataset=dataset, feature_names=list(feature_names or []) or [f"x{i}" for i in range(int(sig.inputs[0].shape[1]))], ranges=ranges, seed=seed)
        if len(sig.inputs) != 1:
            raise UsageError(f"--inputs {spec} gives one array", f"the model takes {len(sig.inputs)} inputs")
        return InputSet([{sig.inputs[0].name: x}], desc, True)
    if spec.startswith(("random:", "uniform:")):
        kind, _, count = spec.partition(":")
        try:
            n = parse_int(count)
        except ValueError:
            raise UsageError("bad --inputs", repr(spec), f"use {kind}:N with an integer N") from None
        if n < 1:
            raise UsageError("bad --inputs", repr(spec), "N must be positive")
        within = kind == "uniform"
        feeds, fixed = random_feeds(sig, n, seed, dims, input_ranges, within=within)
        rows = next(iter(feeds.values())).shape[0] if feeds and next(iter(feeds.values())).ndim else n
        desc = f"{rows} {'uniform rows within the input ranges' if within else 'random rows'} (seed {seed}) of every input" + (f", fed {fixed} at a time (fixed batch)" if fixed else "")
        if fixed is not None:
            check_feeds(sig, {k: v[:fixed] for k, v in feeds.items()}, "random inputs")
            return InputSet([feeds], desc, True, chunk_rows=fixed)
        feeds = check_feeds(sig, feeds, "random inputs")
        return InputSet([feeds], desc, sig.batched())
    samples = _read_file_feeds(spec, sig, feature_names)
    if not samples:
        raise DataError(f"{spec} holds no inputs")
    return checked_set(samples, sig, f"{spec}")


def checked_set(samples: list[dict[str, np.ndarray]], sig: Any, source: str) -> InputSet:
    """Samples checked against ``sig``; one sample of a batched signature is cut into rows."""
    from irisonnx.modelfile.signature import check_feeds

    fixed = sig.fixed_batch()
    if len(samples) == 1 and fixed is not None:
        feeds = samples[0]
        rows = {v.shape[0] if np.ndim(v) else None for v in feeds.values()}
        if len(rows) == 1 and (r := rows.pop()) is not None and r != fixed and r % fixed == 0 and r > 0:
            types = {k: v.dtype for k, v in check_feeds(sig, {k: v[:fixed] for k, v in feeds.items()}, source).items()}
            full = {k: np.ascontiguousarray(v, dtype=types[k]) for k, v in feeds.items()}
            return InputSet([full], f"{source} ({r} rows, fed {fixed} at a time: fixed batch)", True, chunk_rows=fixed)
    checked = [check_feeds(sig, s, source if len(samples) == 1 else f"{source} feed {k}") for k, s in enumerate(samples)]
    if len(checked) == 1:
        first = checked[0]
        n = {v.shape[0] for v in first.values() if v.ndim}
        batched = sig.batched() and len(n) == 1
        if batched and 0 in n:
            raise DataError(f"{source}: no rows")
        rows = n.pop() if len(n) == 1 else None
        return InputSet(checked, f"{source}" + (f" ({rows} rows)" if batched else ""), batched)
    return InputSet(checked, f"{source} ({len(checked)} feeds)", False)
