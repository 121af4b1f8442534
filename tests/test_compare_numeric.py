"""The numeric core of compare: ULP distance, tolerance masks and streamed statistics,
checked against slow, obvious implementations (hypothesis) and hand-made edge cases."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from irisonnx.compare.stats import HIST_LABELS, PairStats, Tolerance, bits_equal, close_mask, ulp_distance

f32 = st.floats(width=32, allow_nan=False, allow_infinity=True)


def slow_ulp32(a: float, b: float) -> int:
    """Count float32 steps between a and b by walking the sign-magnitude encoding."""

    def key(x: float) -> int:
        (i,) = struct.unpack("<i", struct.pack("<f", x))
        return -(i & 0x7FFFFFFF) if i < 0 else i

    return abs(key(a) - key(b))


@given(f32, f32)
@settings(max_examples=400, deadline=None)
def test_ulp_matches_slow_implementation(a: float, b: float) -> None:
    got = ulp_distance(np.array([a], np.float32), np.array([b], np.float32))[0]
    assert got == slow_ulp32(a, b)


@given(st.floats(width=32, allow_nan=False, allow_infinity=False))
@settings(max_examples=200, deadline=None)
def test_ulp_of_neighbours_is_one(a: float) -> None:
    x = np.float32(a)
    with np.errstate(over="ignore"):
        up = np.nextafter(x, np.float32(np.inf))
    if np.isfinite(up):
        # +0.0 and -0.0 share 0 on the integer line, so the step from -0.0 to the smallest subnormal is 1 too.
        assert ulp_distance(np.array([x]), np.array([up]))[0] == 1


@given(f32, f32, st.floats(0, 1), st.floats(0, 1))
@settings(max_examples=300, deadline=None)
def test_close_mask_matches_formula(a: float, b: float, atol: float, rtol: float) -> None:
    got = bool(close_mask(np.array([a]), np.array([b]), atol, rtol)[0])
    if math.isinf(a) or math.isinf(b):
        want = a == b
    else:
        want = abs(a - b) <= atol + rtol * abs(b)
    assert got == want


def test_zero_signs_and_nans() -> None:
    pos, neg = np.array([0.0], np.float32), np.array([-0.0], np.float32)
    assert not bits_equal(pos, neg)[0]
    assert ulp_distance(pos, neg)[0] == 0
    assert close_mask(pos, neg, 0, 0)[0]
    qnan = np.array([np.nan], np.float32)
    other_nan = np.frombuffer(struct.pack("<I", 0x7FC00001), np.float32)
    assert bits_equal(qnan, qnan.copy())[0]
    assert not bits_equal(qnan, other_nan)[0]
    assert ulp_distance(qnan, other_nan)[0] == 0
    assert ulp_distance(qnan, pos)[0] == np.inf
    assert ulp_distance(np.array([np.finfo(np.float32).max]), np.array([np.inf], np.float32))[0] == 1


def _stats(a, b, tol: Tolerance):
    ps = PairStats("rt", "base", tol)
    ps.update("out", np.asarray(a, np.float32).reshape(1, -1), np.asarray(b, np.float32).reshape(1, -1))
    return ps.outputs["out"]


@pytest.mark.parametrize(
    "a, b, exact, ulp4, close",
    [
        ([np.nan], [np.nan], True, True, True),  # same NaN bits
        ([np.nan], [1.0], False, False, False),  # NaN in one only
        ([-0.0], [0.0], False, True, True),  # signed zeros: bits differ
        ([np.inf], [np.inf], True, True, True),
        ([np.inf], [1e30], False, False, False),
        ([1.0], [1.0 + 2**-23], False, True, True),  # 1 ULP
        ([1.0], [1.5], False, False, False),
    ],
)
def test_modes_on_special_values(a, b, exact, ulp4, close) -> None:
    assert _stats(a, b, Tolerance("exact")).passed is exact
    assert _stats(a, b, Tolerance("ulp", max_ulp=4)).passed is ulp4
    assert _stats(a, b, Tolerance("close")).passed is close


def test_statistics_streamed_equal_one_shot() -> None:
    rng = np.random.default_rng(1)
    a = rng.normal(size=(1000, 3)).astype(np.float32)
    b = (a + rng.normal(scale=1e-6, size=a.shape)).astype(np.float32)
    one = PairStats("r", "b", Tolerance())
    one.update("o", a, b)
    chunked = PairStats("r", "b", Tolerance())
    for s in range(0, 1000, 97):
        chunked.update("o", a[s : s + 97], b[s : s + 97], s)
    x, y = one.outputs["o"], chunked.outputs["o"]
    assert (x.max_abs, x.max_rel, x.max_ulp, x.n_fail, x.argmax_agree, x.histogram) == (y.max_abs, y.max_rel, y.max_ulp, y.n_fail, y.argmax_agree, y.histogram)
    assert x.mean_abs == pytest.approx(y.mean_abs, rel=1e-12)
    assert x.worst == y.worst
    d = np.abs(a.astype(np.float64) - b)
    assert x.max_abs == d.max()
    row, col = np.unravel_index(np.argmax(d), d.shape)
    assert (x.worst["row"], x.worst["col"]) == (row, col)
    assert sum(x.histogram) == a.size
    assert x.argmax_agree == int((a.argmax(1) == b.argmax(1)).sum())


def test_histogram_buckets_by_decade() -> None:
    base = np.zeros((1, 5), np.float32)
    a = np.array([[0.0, 5e-10, 3e-7, 0.5, 7.0]], np.float32)
    h = _stats(a, base, Tolerance()).histogram
    counts = dict(zip(HIST_LABELS, h))
    assert counts["0"] == 1 and counts["<=1e-9"] == 1 and counts["<=1e-6"] == 1 and counts["<=1"] == 1 and counts[">1"] == 1


def test_per_output_tolerance_and_argmax_requirement() -> None:
    a = np.array([[1.0, 2.0]], np.float32)
    b = np.array([[1.0, 2.00005]], np.float32)
    assert not _stats(a, b, Tolerance()).passed
    ps = PairStats("r", "b", Tolerance(per_output={"out": (1e-4, 0.0)}))
    ps.update("out", a, b)
    assert ps.passed
    flipped = PairStats("r", "b", Tolerance(atol=10, require_argmax=True))
    flipped.update("out", np.array([[2.0, 1.0]], np.float32), np.array([[1.0, 2.0]], np.float32))
    assert flipped.outputs["out"].n_fail == 0 and not flipped.passed
    assert flipped.outputs["out"].argmax_agreement == 0.0


def test_integer_outputs_must_be_equal() -> None:
    ps = PairStats("r", "b", Tolerance("ulp", max_ulp=100))
    ps.update("label", np.array([0, 1, 2]), np.array([0, 1, 1]))
    assert ps.outputs["label"].n_fail == 1 and not ps.passed


def test_top_rows_are_the_largest_errors_with_ties_to_the_later_row() -> None:
    """compare keeps, chunk by chunk, the TOP_ROWS rows with the largest (error, row): checked
    against a plain sort over all rows, with many tied errors and every chunk size."""
    from irisonnx.compare.stats import PairStats, Tolerance
    from irisonnx.compare.runner import TOP_ROWS, _keep_top_rows

    rng = np.random.default_rng(3)
    for trial in range(200):
        n, chunk = int(rng.integers(1, 120)), int(rng.integers(1, 40))
        a = rng.integers(0, 4, (n, 3)).astype(np.float32)  # errors 0..3: ties everywhere
        b = np.zeros((n, 3), np.float32)
        heap: list[tuple[float, int]] = []
        pair = PairStats("x", "y", Tolerance())
        for s in range(0, n, chunk):
            pair.update("o", a[s : s + chunk], b[s : s + chunk], s)
            known = pair.finite_abs_err if trial % 2 else None  # the reused errors and fresh ones agree
            _keep_top_rows(heap, {"o": a[s : s + chunk]}, {"o": b[s : s + chunk]}, ["o"], s, known)
        err = np.abs(a.astype(np.float64)).max(axis=1)
        want = sorted(((float(err[i]), i) for i in range(n)), reverse=True)[:TOP_ROWS]
        assert sorted(heap, reverse=True) == want, trial


def test_fast_row_argmax_and_narrow_ulp_match_numpy_and_the_int64_route() -> None:
    """The finite path's column-wise argmax picks numpy's row (first maximum on ties) and its
    int32 ordered-integer ULP mapping equals the int64 one, signed zeros and extremes included."""
    from irisonnx.compare.stats import _ordered, _ordered_narrow, _row_argmax_finite

    rng = np.random.default_rng(1)
    for k in range(2, 9):
        x = rng.integers(-3, 3, (5000, k)).astype(np.float32)  # ties in most rows
        assert np.array_equal(_row_argmax_finite(x), np.argmax(x, axis=1)), k
    for dt in (np.float32, np.float16):
        v = rng.standard_normal(10000).astype(dt)
        v[:6] = [0.0, -0.0, np.finfo(dt).max, -np.finfo(dt).max, np.finfo(dt).smallest_subnormal, -np.finfo(dt).smallest_subnormal]
        assert np.array_equal(_ordered_narrow(v).astype(np.int64), _ordered(v)), dt


def test_a_huge_tolerance_passes_everything_finite_without_numpy_warnings() -> None:
    """rtol 1e308 makes rtol*|b| overflow to inf, the right bound: no RuntimeWarning on stderr
    (the CLI prints one line), on the finite fast path and on the general one."""
    import warnings

    from irisonnx.compare.stats import PairStats, Tolerance

    a = np.array([[1e30, 2.0, -3e38]], np.float32)
    b = np.array([[1.1e30, 2.5, 3e38]], np.float32)
    with_nan = a.copy()
    with_nan[0, 0] = np.nan
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fast = PairStats("x", "y", Tolerance(atol=1e308, rtol=1e308))
        fast.update("o", a, b)
        general = PairStats("x", "y", Tolerance(atol=1e308, rtol=1e308))
        general.update("o", with_nan, b)
    assert fast.outputs["o"].n_fail == 0
    assert general.outputs["o"].n_fail == 1 and general.outputs["o"].n_nan_inf_mismatch == 1  # only the NaN fails
