"""Parity gates and side-by-side timing for edge variants. Returns data, prints nothing.

Every variant is compared with the fp32 model (onnxruntime CPU, the same settings) by the
compare engine (:class:`irisonnx.compare.stats.PairStats`) on the test split and on seeded random
rows (:func:`irisonnx.compare.inputs.random_rows`: inside and far beyond the training range), each
run two ways: all rows in one call, and one row per call. Both matter on a device, and
they differ for int8-dynamic, whose activation scale is computed over the whole call.
The baseline is run the same way, so each mode is compared like for like.

The fp16 variant is also run by the ONNX reference evaluator (numpy float16 arithmetic):
onnxruntime's CPU provider has no float16 Gemm on x86 and quietly computes such a graph in
float32 with float16 weights, while a phone or GPU computes in float16. The reference run
is what true fp16 arithmetic gives, overflow above 65504 included.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from irisonnx.compare.stats import PairStats, Tolerance, bits_equal
from irisonnx.errors import UsageError

__all__ = ["RUNTIME_FP32", "Gates", "Check", "Figures", "Evaluator", "gate_checks", "summarise", "bench", "ort_format_session", "twin_matches", "FeedSet", "GenericEvaluator", "tolerance_checks", "summarise_generic", "bench_feeds", "parse_output_tols", "IN_RANGE", "BEYOND"]

MODES = ("all", "batch-1")
# The gate of a float32 variant that another runtime computes (a converted model: ExecuTorch,
# and the other families' fp32): compare's default tolerance, relative to the values.
RUNTIME_FP32 = "fp32-runtime"
IN_RANGE, BEYOND = "in-range", "random"  # a foreign model's two input sets: gated, reported
_EPS = 1e-9  # 0.98 - 0.96 is 0.020000000000000018 in floats: not a gate failure


@dataclass(frozen=True)
class Gates:
    """What each variant must achieve against fp32. Agreements and drops are fractions
    (0.97 = 97%, 0.02 = 2 accuracy points).

    irisonnx's classifiers (with a dataset) are gated on argmax agreement and accuracy; any
    other model on tolerances, per output, on generated in-range inputs: every element of a
    float output within ``|a - b| <= atol + rtol * |fp32|`` (compare's rule), integer and bool
    outputs exactly equal. ``per_output`` overrides (atol, rtol) for one output, keyed
    ``OUTPUT`` (every derived variant) or ``VARIANT:OUTPUT``."""

    fp32_opt_atol: float = 1e-6  # max abs error, test + random rows, both batch modes
    min_agreement: float = 0.97  # int8 variants: argmax agreement on the test split
    fp16_min_agreement: float = 1.0  # fp16: argmax agreement on the test split
    max_accuracy_drop: float = 0.02  # int8 and fp16: test accuracy below fp32's, at most
    # Tolerance gates (models that are not irisonnx classifiers). fp32-opt reorders float
    # sums (a few ULP); float16 keeps ~3 significant digits; uint8 activations ~2.
    fp32_opt_rtol: float = 1e-5  # with fp32_opt_atol (raised to at least 1e-5 for these)
    fp16_atol: float = 1e-2
    fp16_rtol: float = 1e-2
    int8_atol: float = 0.05
    int8_rtol: float = 0.05
    per_output: dict[str, tuple[float, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("fp32_opt_atol", "min_agreement", "fp16_min_agreement", "max_accuracy_drop", "fp32_opt_rtol", "fp16_atol", "fp16_rtol", "int8_atol", "int8_rtol"):
            v = getattr(self, name)
            if not (isinstance(v, (int, float)) and np.isfinite(v) and v >= 0):
                raise UsageError(f"bad gate {name.replace('_', '-')}", repr(v), "use a finite number >= 0 (agreements and drops are fractions: 0.97, 0.02)")
        for key, (a, r) in self.per_output.items():
            if not (np.isfinite(a) and np.isfinite(r) and a >= 0 and r >= 0):
                raise UsageError("bad --output-tol", f"{key}={a},{r}", "use finite numbers >= 0")

    def to_dict(self) -> dict[str, Any]:
        return {
            "fp32_opt_atol": self.fp32_opt_atol,
            "min_agreement": self.min_agreement,
            "fp16_min_agreement": self.fp16_min_agreement,
            "max_accuracy_drop": self.max_accuracy_drop,
            "tolerance": {"fp32-opt": [self._fp32_opt_atol(), self.fp32_opt_rtol], "fp16": [self.fp16_atol, self.fp16_rtol], "int8": [self.int8_atol, self.int8_rtol], "per_output": {k: list(v) for k, v in self.per_output.items()}, "rule": "|a - b| <= atol + rtol * |fp32| per element of float outputs; integer/bool outputs exact (models that are not irisonnx classifiers)"},
        }

    def _fp32_opt_atol(self) -> float:
        return max(self.fp32_opt_atol, 1e-5)

    def tolerance(self, variant: Any, outputs: list[str] | tuple[str, ...] = ()) -> Tolerance:
        """The per-output tolerance gate of a variant (a Variant or its name) of a model that is
        not a classifier: by the variant's gate kind; ``VARIANT:OUTPUT`` keys by its name."""
        name, gate = _gate(variant)
        if gate == "int8":
            at, rt = self.int8_atol, self.int8_rtol
        elif gate == "fp16":
            at, rt = self.fp16_atol, self.fp16_rtol
        elif gate in ("fp32", RUNTIME_FP32):
            at, rt = self._fp32_opt_atol(), self.fp32_opt_rtol
        else:
            return Tolerance(mode="exact")
        per = {}
        for o in outputs:
            if f"{name}:{o}" in self.per_output:
                per[o] = self.per_output[f"{name}:{o}"]
            elif o in self.per_output and gate not in ("fp32", "fp32-runtime"):
                per[o] = self.per_output[o]
        return Tolerance(mode="close", atol=at, rtol=rt, per_output=per)

    def describe(self, variant: Any, classifier: bool = True) -> str:
        gate = _gate(variant)[1]
        if gate == "source":
            return "the exported model, byte for byte" if classifier else "the source model, byte for byte"
        if not classifier:
            t = self.tolerance(variant)
            return f"every float output within atol {t.atol:g}, rtol {t.rtol:g} of fp32, integer/bool outputs equal (in-range inputs)"
        if gate == "fp32" and other_runtime(variant):
            t = self.tolerance(variant)
            return f"every output element within atol {t.atol:g} + rtol {t.rtol:g} * |fp32| (test split; random rows reported)"
        if gate == "fp32":
            return f"max abs err <= {self.fp32_opt_atol:g} (test + random rows)"
        if gate == RUNTIME_FP32:
            t = Tolerance()
            return f"every value within atol {t.atol:g} + rtol {t.rtol:g} x |fp32| and labels equal (test split; random rows reported)"
        agree = self.fp16_min_agreement if gate == "fp16" else self.min_agreement
        return f"agreement >= {agree:.1%} and accuracy drop <= {self.max_accuracy_drop * 100:g} points (test split)"


def parse_output_tols(items: list[str] | tuple[str, ...] | None) -> dict[str, tuple[float, float]]:
    """``--output-tol [VARIANT:]OUTPUT=ATOL,RTOL`` (repeatable)."""
    from irisonnx.config import parse_named_pair

    out: dict[str, tuple[float, float]] = {}
    for item in items or ():
        got = parse_named_pair(item)
        if got is None or min(got[1]) < 0:
            raise UsageError("bad --output-tol", repr(item), "use [VARIANT:]OUTPUT=ATOL,RTOL with finite numbers >= 0, e.g. probabilities=0.01,0")
        out[got[0]] = got[1]
    return out


@dataclass
class Check:
    """One gate condition with its measured value."""

    name: str
    value: float
    limit: float
    op: str  # ">=" or "<="
    kind: str  # "fraction" (shown as %), "points" (fraction shown as points), "abs", "count", "flag"
    detail: str = ""

    @property
    def passed(self) -> bool:
        if not np.isfinite(self.value):
            return False
        return self.value >= self.limit - _EPS if self.op == ">=" else self.value <= self.limit + _EPS

    def _fmt(self, v: float) -> str:
        if self.kind == "flag":
            return "yes" if v >= 1 else "no"
        if self.kind == "fraction":
            return f"{v:.2%}"
        if self.kind == "points":
            return f"{v * 100:.2f} points"
        if self.kind == "count":
            return f"{int(v):,}"
        return f"{v:.3g}"

    def describe(self) -> str:
        if self.kind == "flag":
            text = f"{self.name}: {self._fmt(self.value)}"
        elif self.kind == "count" and self.limit == 0:
            text = f"{self.name}: {self._fmt(self.value)}"
        else:
            text = f"{self.name} {self._fmt(self.value)} (limit {self.op} {self._fmt(self.limit)})"
        if self.detail:
            text += f" [{self.detail}]"
        if not self.passed and self.kind != "flag":
            gap = abs(self.value - self.limit) if np.isfinite(self.value) else float("inf")
            by = f"{gap * 100:.2f} points" if self.kind in ("fraction", "points") else f"{gap:.3g}"
            text += f": {'short' if self.op == '>=' else 'over'} by {by}"
        return text

    def to_dict(self) -> dict[str, Any]:
        v = self.value if np.isfinite(self.value) else repr(self.value)
        return {"name": self.name, "value": v, "limit": self.limit, "op": self.op, "kind": self.kind, "detail": self.detail, "passed": self.passed, "description": self.describe()}


@dataclass
class Figures:
    """One variant against fp32 on one split, by one runtime, in one batch mode."""

    split: str  # "test" | "random"
    runtime: str  # "ort-cpu" | "reference"
    mode: str  # "all" | "batch-1"
    stats: PairStats
    logits_name: str = "logits"
    accuracy: float | None = None  # test split only
    fp32_accuracy: float | None = None

    @property
    def logits(self) -> Any:
        return self.stats.outputs[self.logits_name]

    @property
    def rows(self) -> int:
        return self.logits.argmax_rows

    @property
    def agreement(self) -> float:
        return self.logits.argmax_agreement or 0.0

    @property
    def max_abs(self) -> float:
        return max(s.max_abs for s in self.stats.outputs.values() if s.dtype.startswith("float"))

    @property
    def nonfinite(self) -> int:
        return sum(s.n_nan_inf_mismatch for s in self.stats.outputs.values())

    @property
    def n_fail(self) -> int:
        """Elements outside the figures' tolerance (compare's rule), over every output."""
        return sum(s.n_fail for s in self.stats.outputs.values())

    @property
    def outside(self) -> int:
        """Elements outside compare's default tolerance (integer outputs: not equal)."""
        return sum(s.n_fail for s in self.stats.outputs.values())

    @property
    def exact(self) -> bool:
        return all(s.exact for s in self.stats.outputs.values())

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "split": self.split,
            "runtime": self.runtime,
            "mode": self.mode,
            "rows": self.rows,
            "argmax_agreement": self.agreement,
            "rows_agreeing": self.logits.argmax_agree,
            "max_abs_error": self.max_abs if np.isfinite(self.max_abs) else repr(self.max_abs),
            "bitwise_equal": self.exact,
            "nonfinite_mismatches": self.nonfinite,
        }
        if self.accuracy is not None:
            d["accuracy"] = self.accuracy
            d["fp32_accuracy"] = self.fp32_accuracy
        return d


def _worst(figs: list[Figures], key: Callable[[Figures], float], highest: bool) -> Figures:
    return (max if highest else min)(figs, key=key)


def _gate(variant: Any) -> tuple[str, str]:
    """(name, gate kind) of a Variant or a variant name: "source" (the model itself, byte for
    byte), "fp32" (max abs error), "fp16" or "int8" (agreement and accuracy, or tolerance)."""
    if isinstance(variant, str):
        from irisonnx.edge.variants import get

        variant = get(variant)
    return variant.name, variant.gate


def other_runtime(variant: Any) -> bool:
    """An fp32 variant that another runtime family runs (OpenVINO, LiteRT, ...): its arithmetic
    differs from onnxruntime's by rounding wherever the values are, so it is gated by compare's
    rule, ``|a - b| <= atol + rtol * |fp32|`` per element (the fp32-opt tolerance), not by the
    absolute max error meant for onnxruntime's own graph rewrites (bitwise equal, or nearly).
    Rows far beyond the training range have logits near 1e6, where one float32 ULP is 0.06."""
    if isinstance(variant, str):
        from irisonnx.edge.variants import get

        variant = get(variant)
    from irisonnx.edge.variants import VARIANTS, get

    return variant.gate == "fp32" and variant.family != get(VARIANTS[0]).family


def gate_checks(variant: Any, figs: list[Figures], gates: Gates) -> list[Check]:
    """The checks a variant must pass; the worst batch mode and runtime decide each one."""
    gate = _gate(variant)[1]
    if gate == "source":
        return []  # edge.build checks it is the exported model byte for byte
    if gate == "fp32" and other_runtime(variant):
        # The test split is gated (as the int8 and fp16 variants' agreement is); the random rows
        # reach 1e6 times the training range, where outputs that are differences of large terms
        # move by float32 rounding in another summation order: reported, not gated.
        t = gates.tolerance(variant)
        test = [f for f in figs if f.split == "test"] or figs
        w = _worst(test, lambda f: (f.n_fail, f.max_abs), True)
        rnd = [f for f in figs if f.split == "random"]
        extra = f"; random rows (not gated): {max(f.n_fail for f in rnd):,} beyond, max abs {max(f.max_abs for f in rnd):.3g}" if rnd else ""
        return [Check(f"elements beyond atol {t.atol:g} + rtol {t.rtol:g} * |fp32|, test split", w.n_fail, 0, "<=", "count", f"{w.mode}; max abs {w.max_abs:.3g}{extra}")]
    if gate == RUNTIME_FP32:
        # Another runtime's float32 (a converted model: LiteRT, ExecuTorch): its kernels sum in
        # another order, so equal bits are not expected. The test split is gated: every element
        # within compare's default tolerance, and the same labels. The random rows reach 1e6
        # times the training range, where outputs that are differences of large terms (logits
        # near 1e4 cancelling to 50) move by float32 rounding: reported, not gated (as
        # openvino-fp32's gate does, and as the int8/fp16 variants gate agreement on the test split).
        t = Tolerance()
        test = [f for f in figs if f.split == "test"] or figs
        rnd = [f for f in figs if f.split == "random"]
        fails = sum(f.outside for f in test)
        n = sum(s.n_elements for f in test for s in f.stats.outputs.values())
        w = _worst(test, lambda f: f.max_abs, True)
        wa = _worst(test, lambda f: f.agreement, False)
        extra = f"; random rows (not gated): {sum(f.outside for f in rnd):,} outside, max abs {max(f.max_abs for f in rnd):.3g}" if rnd else ""
        return [
            Check(f"elements outside atol {t.atol:g} + rtol {t.rtol:g} x |fp32|, test split", float(fails), 0.0, "<=", "count", f"of {n:,}; max abs {w.max_abs:.3g} [{w.mode}]{extra}"),
            Check("argmax agreement, test split", wa.agreement, 1.0, ">=", "fraction", f"{wa.logits.argmax_agree}/{wa.rows} rows, {wa.mode}"),
        ]
    if gate == "fp32":
        w = _worst(figs, lambda f: f.max_abs, True)
        where = f"{w.split}, {w.mode}" + (", bitwise equal everywhere" if all(f.exact for f in figs) else "")
        return [Check("max abs error vs fp32", w.max_abs, gates.fp32_opt_atol, "<=", "abs", where)]
    if gate == "fp32-runtime":
        # Another runtime's float32 (LiteRT, ...): its kernels sum in another order, so equal
        # bits are not expected; within compare's default tolerance everywhere (the random rows
        # far beyond the training range have logits near 1e5: an absolute bound says nothing).
        t = Tolerance()
        fails = sum(s.n_fail for f in figs for s in f.stats.outputs.values())
        n = sum(s.n_elements for f in figs for s in f.stats.outputs.values())
        w = _worst(figs, lambda f: f.max_abs, True)
        test = [f for f in figs if f.split == "test"]
        wa = _worst(test, lambda f: f.agreement, False)
        return [
            Check(f"elements outside atol {t.atol:g} + rtol {t.rtol:g} x |fp32|", float(fails), 0.0, "<=", "count", f"of {n:,}; max abs {w.max_abs:.3g} [{w.split}, {w.mode}]"),
            Check("argmax agreement, test split", wa.agreement, 1.0, ">=", "fraction", f"{wa.logits.argmax_agree}/{wa.rows} rows, {wa.mode}"),
        ]
    test = [f for f in figs if f.split == "test"]
    need = gates.fp16_min_agreement if gate == "fp16" else gates.min_agreement
    checks = []
    for rt in dict.fromkeys(f.runtime for f in test):
        w = _worst([f for f in test if f.runtime == rt], lambda f: f.agreement, False)
        label = "argmax agreement, test split" + (" (fp16 arithmetic, onnx reference)" if rt == "reference" else "")
        checks.append(Check(label, w.agreement, need, ">=", "fraction", f"{w.logits.argmax_agree}/{w.rows} rows, {w.mode}"))
    w = _worst(test, lambda f: (f.fp32_accuracy or 0.0) - (f.accuracy or 0.0), True)
    drop = (w.fp32_accuracy or 0.0) - (w.accuracy or 0.0)
    checks.append(Check("accuracy drop vs fp32", drop, gates.max_accuracy_drop, "<=", "points", f"{w.accuracy:.2%} vs {w.fp32_accuracy:.2%}, {w.runtime} {w.mode}"))
    return checks


def summarise(figs: list[Figures]) -> dict[str, Any]:
    """The table's figures: the worst over batch modes and runtimes, per split."""
    test = [f for f in figs if f.split == "test"]
    rand = [f for f in figs if f.split == "random"]

    def fin(v: float) -> Any:
        return v if np.isfinite(v) else repr(v)

    # Named as compare's JSON names them; the unsuffixed ones are the test split's.
    out: dict[str, Any] = {}
    if test:
        out["accuracy"] = min(f.accuracy or 0.0 for f in test)
        out["fp32_accuracy"] = min(f.fp32_accuracy or 0.0 for f in test)
        out["argmax_agreement"] = min(f.agreement for f in test)
        out["max_abs_error"] = fin(max(f.max_abs for f in test))
    if rand:
        out["argmax_agreement_random"] = min(f.agreement for f in rand)
        out["max_abs_error_random"] = fin(max(f.max_abs for f in rand))
        out["nonfinite_random"] = max(f.nonfinite for f in rand)
    return out


class Evaluator:
    """Runs the fp32 baseline once per split and mode, then compares each variant with it."""

    def __init__(self, baseline: Any, x_test: np.ndarray, y_test: np.ndarray, x_random: np.ndarray, input_name: str, logits: str) -> None:
        self.splits = {"test": np.ascontiguousarray(x_test, dtype=np.float32), "random": np.ascontiguousarray(x_random, dtype=np.float32)}
        self.y_test = np.asarray(y_test)
        self.input_name, self.logits = input_name, logits
        self.base = {(s, m): run_modes(self._rows(baseline), x, m) for s, x in self.splits.items() for m in MODES}

    def _rows(self, runner: Any) -> Callable[..., dict[str, np.ndarray]]:
        """A runner's ``run_feeds`` (the only call a variant's runner needs) over rows of the one input."""
        name = self.input_name
        return lambda x, check=False: runner.run_feeds({name: x})

    def _accuracy(self, out: dict[str, np.ndarray], logits: str) -> float:
        return float((np.argmax(out[logits], axis=1) == self.y_test).mean())

    def evaluate(self, runner: Any, reference: Any = None, runtime: str = "ort-cpu", tol: Tolerance | None = None) -> tuple[list[Figures], float]:
        """(figures, max abs difference between the variant's own two batch modes).
        ``runner``: anything with ``run_feeds``; ``runtime``: how the figures name it;
        ``tol``: what the figures count as out of tolerance (compare's default)."""
        logits = self.logits
        figs: list[Figures] = []
        own: dict[tuple[str, str], dict[str, np.ndarray]] = {}
        runs: list[tuple[str, str, Callable[..., Any]]] = [(runtime, m, self._rows(runner)) for m in MODES]
        if reference is not None:
            in_name = self.input_name
            runs.append(("reference", "all", lambda x, check=False: _quiet_numpy(reference.run, {in_name: x})))
        for split, x in self.splits.items():
            for rt, mode, fn in runs:
                out = run_modes(fn, x, mode)
                base = self.base[(split, mode)]
                if rt == runtime:
                    own[(split, mode)] = out
                ps = PairStats(rt, "fp32", tol or Tolerance())
                for name in base:
                    if name in out:
                        ps.update(name, np.asarray(out[name]), base[name])
                f = Figures(split, rt, mode, ps, logits)
                if split == "test":
                    f.accuracy, f.fp32_accuracy = self._accuracy(out, logits), self._accuracy(base, logits)
                figs.append(f)
        diff = 0.0
        for split in self.splits:
            a, b = own[(split, "all")], own[(split, "batch-1")]
            for name in a:
                if a[name].dtype.kind == "f" and not bits_equal(a[name], b[name]).all():
                    with np.errstate(invalid="ignore"):
                        d = np.abs(a[name].astype(np.float64) - b[name].astype(np.float64))
                    diff = max(diff, float(np.nanmax(d)) if np.isfinite(d).any() else float("inf"))
        return figs, diff


def _quiet_numpy(fn: Callable[..., Any], *args: Any) -> Any:
    """float16 overflow (inf, then inf - inf) is a finding we count, not a warning to print."""
    import warnings

    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return fn(*args)


def run_modes(fn: Callable[..., dict[str, np.ndarray]], x: np.ndarray, mode: str) -> dict[str, np.ndarray]:
    """All rows in one call, or one row per call (concatenated)."""
    if mode == "all":
        return {k: np.asarray(v) for k, v in fn(x, check=False).items()}
    parts = [fn(x[i : i + 1], check=False) for i in range(len(x))]
    return {k: np.concatenate([np.asarray(p[k]) for p in parts]) for k in parts[0]}


def bench(predictors: dict[str, Any], n_features: int, lo: Any, hi: Any, *, input_name: str, rows: int = 65536, rounds: int = 15, reps: int = 200, seed: int = 0, cpu_clock: bool = False) -> dict[str, dict[str, Any]]:
    """Batch-1 latency and ``rows``-row throughput of every classifier predictor (rows drawn
    uniformly in [lo, hi]), measured side by side (see :func:`bench_feeds`). Batch-1 goes
    through each runner's ``run_feeds`` (a Predictor's cached I/O binding)."""
    rng = np.random.default_rng(seed)
    x1 = np.ascontiguousarray(rng.uniform(lo, hi, size=(1, n_features)), dtype=np.float32)  # (1, n_features)
    big = np.ascontiguousarray(rng.uniform(lo, hi, size=(rows, n_features)), dtype=np.float32)  # (rows, n_features)
    calls = {n: (lambda p=p: p.run_feeds({input_name: x1}), lambda p=p: p.run_feeds({input_name: big})) for n, p in predictors.items()}
    return bench_feeds(calls, rows, rounds=rounds, reps=reps, cpu_clock=cpu_clock)


def bench_feeds(calls: dict[str, tuple[Callable[[], Any], Callable[[], Any]]], rows: int, *, rounds: int = 15, reps: int = 200, cpu_clock: bool = False) -> dict[str, dict[str, Any]]:
    """Side-by-side timing of (small call, big call) per variant: the small call is batch 1
    (or the model's fixed batch), the big one ``rows`` rows.

    Each round times every variant in turn (the order rotates each round, so none always
    runs first or last after another's cache traffic), after one warm-up round; medians over
    rounds are returned.

    Wall-clock time is always measured. With ``cpu_clock`` (right only for one-thread
    sessions, which run inline on the calling thread) the primary figures are this thread's
    CPU time instead: on a shared, loaded machine wall time mostly measures the neighbours,
    while CPU time stays within ~10% from run to run.
    """
    names = list(calls)
    keys = ("lat_wall", "lat_cpu", "thr_wall", "thr_cpu")
    t: dict[str, dict[str, list[float]]] = {n: {k: [] for k in keys} for n in names}
    wall, cpu = time.perf_counter, time.thread_time
    for r in range(rounds + 1):
        order = names[r % len(names) :] + names[: r % len(names)]
        for n in order:
            small, big = calls[n]
            w0, c0 = wall(), cpu()
            for _ in range(reps):
                small()
            w1, c1 = wall(), cpu()
            big()
            w2, c2 = wall(), cpu()
            if r:  # round 0 warms up caches, bindings and thread pools
                t[n]["lat_wall"].append((w1 - w0) / reps)
                t[n]["lat_cpu"].append((c1 - c0) / reps)
                t[n]["thr_wall"].append(rows / max(w2 - w1, 1e-9))
                t[n]["thr_cpu"].append(rows / max(c2 - c1, 1e-9))
    out = {}
    for n in names:
        med = {k: float(np.median(v)) for k, v in t[n].items()}
        main = "cpu" if cpu_clock else "wall"
        out[n] = {
            "clock": "thread CPU time" if cpu_clock else "wall clock",
            "batch1_latency_us": med[f"lat_{main}"] * 1e6,
            "throughput_rows_s": med[f"thr_{main}"],
            "batch1_wall_us": med["lat_wall"] * 1e6,
            "throughput_wall_rows_s": med["thr_wall"],
        }
    return out


def ort_format_session(data: bytes, threads: int | None = None) -> Any:
    """An onnxruntime CPU session over ORT-format bytes (the Predictor reads ONNX only).
    Same rule as the Predictor: the provider that ran must be the one asked for."""
    from irisonnx.runtimes.ort_engine import create_session  # the one session factory

    return create_session(data, intra_threads=threads, what="the ORT-format model")


def twin_matches(sess: Any, predictor: Any, xs: list[Any]) -> tuple[bool, int]:
    """Whether an ORT-format session gives bit-identical outputs to its .onnx twin, all rows
    at once and one row per call. Returns (equal, rows checked). ``xs``: classifier rows, or
    :class:`FeedSet` s of any model (fed by the model's own input names)."""
    names = [o.name for o in sess.get_outputs()]
    if xs and isinstance(xs[0], FeedSet):
        from irisonnx.runtimes.base import normalise_outputs

        n = 0
        for fs in xs:
            for mode in fs.modes():
                a = fs.run(lambda f: normalise_outputs(dict(zip(names, sess.run(names, f))), "ort-format"), mode)
                b = fs.run(lambda f: normalise_outputs(predictor.run_feeds(f), "onnx"), mode)
                ps = PairStats("ort-format", "onnx", Tolerance(mode="exact"))
                for name in b:
                    ps.update(name, a[name], b[name])
                if not ps.passed:
                    return False, n
            n += fs.rows
        return True, n
    in_name = predictor.info.input.name

    def run(x: np.ndarray, check: bool = False) -> dict[str, np.ndarray]:
        return dict(zip(names, sess.run(names, {in_name: x})))

    n = 0
    for x in xs:
        for mode in MODES:
            a, b = run_modes(run, x, mode), run_modes(predictor.run, x, mode)
            ps = PairStats("ort-format", "onnx", Tolerance(mode="exact"))
            for name in b:
                ps.update(name, a[name], b[name])
            if not ps.passed:
                return False, n
        n += len(x)
    return True, n


# --- any model: tolerance gates on generated inputs --------------------------------------------


@dataclass
class FeedSet:
    """Inputs of any signature by name. ``batched``: the arrays share their first dimension
    (rows) and the outputs follow it, so the set can also run one row per call; ``chunk``: a
    fixed batch, fed ``chunk`` rows per call."""

    feeds: dict[str, np.ndarray]
    batched: bool
    chunk: int | None = None

    @property
    def rows(self) -> int:
        first = next(iter(self.feeds.values()), None)
        return int(first.shape[0]) if first is not None and first.ndim and (self.batched or self.chunk) else 1

    def modes(self) -> tuple[str, ...]:
        return MODES if self.batched and self.chunk is None else ("all",)

    def run(self, fn: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]], mode: str) -> dict[str, np.ndarray]:
        """All rows in one call (a fixed batch: ``chunk`` at a time), or one row per call."""
        step = self.chunk if self.chunk else (1 if mode == "batch-1" else None)
        if step is None:
            return {k: np.asarray(v) for k, v in fn(self.feeds).items()}
        parts = [fn({k: np.ascontiguousarray(v[i : i + step]) for k, v in self.feeds.items()}) for i in range(0, self.rows, step)]
        return {k: np.concatenate([np.asarray(p[k]) for p in parts]) for k in parts[0]}


@dataclass
class GenericFigures:
    """One variant against fp32 on one input set, by one runtime, in one mode."""

    split: str  # IN_RANGE (gated) | BEYOND (reported)
    runtime: str  # "ort-cpu" | "reference"
    mode: str
    stats: PairStats

    @property
    def max_abs(self) -> float:
        vals = [s.max_abs for s in self.stats.outputs.values()]
        return max(vals) if vals else 0.0

    @property
    def nonfinite(self) -> int:
        return sum(s.n_nan_inf_mismatch for s in self.stats.outputs.values())

    @property
    def n_fail(self) -> int:
        """Elements outside the figures' tolerance (compare's rule), over every output."""
        return sum(s.n_fail for s in self.stats.outputs.values())

    @property
    def exact(self) -> bool:
        return all(s.exact for s in self.stats.outputs.values())

    @property
    def agreement(self) -> float:  # the classifier table's column; foreign models have none
        return 1.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "split": self.split,
            "runtime": self.runtime,
            "mode": self.mode,
            "max_abs_error": self.max_abs if np.isfinite(self.max_abs) else repr(self.max_abs),
            "bitwise_equal": self.exact,
            "nonfinite_mismatches": self.nonfinite,
            "outputs": {k: v.to_dict() for k, v in self.stats.outputs.items()},
        }


class GenericEvaluator:
    """Any model: runs the fp32 baseline once per input set and mode, then compares each
    variant with it per output (:class:`PairStats`, the one comparator) under its tolerance."""

    def __init__(self, baseline: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]], sets: dict[str, FeedSet]) -> None:
        self.sets = sets
        self.base = {(s, m): fs.run(baseline, m) for s, fs in sets.items() for m in fs.modes()}

    def evaluate(self, run: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]], tol: Tolerance, reference: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]] | None = None, runtime: str = "ort-cpu") -> tuple[list[GenericFigures], float]:
        """(figures, max abs difference between the variant's own two modes); ``runtime``: how
        the figures name the variant's own runner."""
        figs: list[GenericFigures] = []
        own: dict[tuple[str, str], dict[str, np.ndarray]] = {}
        for split, fs in self.sets.items():
            runs: list[tuple[str, str, Callable[..., Any]]] = [(runtime, m, run) for m in fs.modes()]
            if reference is not None and split == IN_RANGE:
                runs.append(("reference", "all", lambda f: _quiet_numpy(reference, f)))
            for rt, mode, fn in runs:
                out = fs.run(fn, mode)
                if rt == runtime:
                    own[(split, mode)] = out
                base = self.base[(split, mode)]
                ps = PairStats(rt, "fp32", tol)
                for name in base:
                    if name in out:
                        ps.update(name, np.asarray(out[name]), base[name])
                figs.append(GenericFigures(split, rt, mode, ps))
        diff = 0.0
        for split, fs in self.sets.items():
            if len(fs.modes()) < 2:
                continue
            a, b = own[(split, "all")], own[(split, "batch-1")]
            for name in a:
                if a[name].dtype.kind == "f" and a[name].shape == b[name].shape and not bits_equal(a[name], b[name]).all():
                    with np.errstate(invalid="ignore"):
                        d = np.abs(a[name].astype(np.float64) - b[name].astype(np.float64))
                    diff = max(diff, float(np.nanmax(d)) if np.isfinite(d).any() else float("inf"))
        return figs, diff


def tolerance_checks(figs: list[GenericFigures], tol: Tolerance) -> list[Check]:
    """One check per output (and runtime): no element outside the tolerance on the in-range
    inputs, in the worse mode; integer/bool outputs must be equal."""
    gated = [f for f in figs if f.split == IN_RANGE]
    checks = []
    for rt in dict.fromkeys(f.runtime for f in gated):
        mine = [f for f in gated if f.runtime == rt]
        for name in mine[0].stats.outputs:
            worst = max(mine, key=lambda f: f.stats.outputs[name].n_fail if name in f.stats.outputs else -1)
            st = worst.stats.outputs[name]
            if st.shape_mismatch:
                rule = f"shape {st.shape_mismatch}"
            elif st.dtype.startswith(("float", "bfloat")):
                a, r = tol.for_output(name)
                rule = f"elements outside atol {a:g}, rtol {r:g}"
            else:
                rule = f"elements not equal ({st.dtype})"
            where = f"of {st.n_elements:,}, max abs {_g(st.max_abs)}" + (f" at {st.worst['index']}" if st.worst and st.n_fail and "index" in st.worst else "") + f", {worst.mode}"
            label = f"output {name}: {rule}" + (" (fp16 arithmetic, onnx reference)" if rt == "reference" else "")
            checks.append(Check(label, float(st.n_fail), 0.0, "<=", "count", where))
    return checks


def _g(v: float) -> str:
    return f"{v:.3g}" if np.isfinite(v) else repr(v)


def summarise_generic(figs: list[GenericFigures]) -> dict[str, Any]:
    """The worst figures per input set (the variant's runtime), and per output on the in-range set."""

    def fin(v: float) -> Any:
        return v if np.isfinite(v) else repr(v)

    out: dict[str, Any] = {}
    # The variant's own runtime (ort-cpu, openvino, ...), not the fp16 reference cross-check.
    gated = [f for f in figs if f.split == IN_RANGE and f.runtime != "reference"]
    beyond = [f for f in figs if f.split == BEYOND and f.runtime != "reference"]
    if gated:
        out["max_abs_error"] = fin(max(f.max_abs for f in gated))
        out["outputs"] = {
            name: {"max_abs_error": fin(max(f.stats.outputs[name].max_abs for f in gated)), "max_rel_error": fin(max(f.stats.outputs[name].max_rel for f in gated)), "out_of_tolerance": max(f.stats.outputs[name].n_fail for f in gated), "elements": gated[0].stats.outputs[name].n_elements}
            for name in gated[0].stats.outputs
        }
    if beyond:
        out["max_abs_error_random"] = fin(max(f.max_abs for f in beyond))
        out["nonfinite_random"] = max(f.nonfinite for f in beyond)
        out["out_of_tolerance_random"] = max(f.n_fail for f in beyond)
    return out
