"""Latency and throughput of the runtimes that can run a model. Returns data, prints nothing.

What is timed is what the rest of irisonnx runs: each runtime's adapter from
:mod:`irisonnx.runtimes` (``ort-cpu``/``ort-cuda`` are the :class:`~irisonnx.runtimes.ort_engine.Predictor`
that ``predict`` uses, ``torch`` is the run's weights in eager mode), called on float32 rows and
returning every model output as numpy arrays. Nothing here creates a session of its own.

* **Latency** at batch 1: ``warmup`` untimed calls, then ``latency_calls`` calls each timed on
  its own (``perf_counter_ns``); p50/p90/p99 of those (nearest rank).
* **Throughput** at each batch size: ``warmup`` untimed calls, then ``repeats`` timed repeats;
  a repeat makes enough calls to last at least ``min_repeat_s`` (so batch 1 is not a single
  2 µs call measured by a 0.1 µs clock), and rows/s is the median over the repeats.
* The runtimes take turns (latency in blocks of 50 calls, throughput repeat by repeat), so
  that other processes' load hits all of them alike and their ratios mean something.

The numbers depend on what else the machine is doing: the result carries the CPU model, the
cores this process may use and the load average when the run started.
"""

from __future__ import annotations

import dataclasses
import math
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from irisonnx.errors import RuntimeUnavailable, UsageError
from irisonnx.runtimes.conversion import RuntimeUnsupported

__all__ = [
    "DEFAULT_BATCH_SIZES",
    "QUICK_BATCH_SIZES",
    "BenchSettings",
    "LatencyStats",
    "ThroughputPoint",
    "RuntimeBench",
    "BenchResult",
    "machine_info",
    "run_bench",
]

DEFAULT_BATCH_SIZES = (1, 64, 4096, 65536, 1_000_000)
QUICK_BATCH_SIZES = (1, 64, 4096, 65536)
INPUT_LOW, INPUT_HIGH = 0.0, 8.0  # uniform rows on the scale of Iris measurements (cm)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class BenchSettings:
    """How to measure. ``quick`` (for ``pipeline``) takes a few seconds in all."""

    batch_sizes: tuple[int, ...] = DEFAULT_BATCH_SIZES
    repeats: int = 7
    warmup: int = 5
    latency_calls: int = 2000
    min_repeat_s: float = 0.05
    threads: int | None = None  # None: each runtime's default
    seed: int = 0
    quick: bool = False
    dims: dict[str, int] = field(default_factory=dict)  # --dim (models that are not classifiers)
    input_ranges: dict[str, tuple[float, float]] = field(default_factory=dict)  # --input-range
    input_desc: str = ""  # set by run_bench for a model that is not a classifier
    clients: int = 1  # --clients: concurrent client threads for remote: runtimes (local ones unaffected)

    @classmethod
    def make(cls, *, quick: bool = False, batch_sizes: tuple[int, ...] | None = None, repeats: int | None = None, warmup: int | None = None, threads: int | None = None, latency_calls: int | None = None, seed: int = 0, dims: dict[str, int] | None = None, input_ranges: dict[str, tuple[float, float]] | None = None, clients: int = 1) -> "BenchSettings":
        """Defaults for the mode, overridden by whatever is given; every value checked (exit 2)."""
        base = cls(batch_sizes=QUICK_BATCH_SIZES, repeats=3, warmup=2, latency_calls=300, min_repeat_s=0.01, quick=True) if quick else cls()
        s = cls(
            batch_sizes=tuple(batch_sizes) if batch_sizes is not None else base.batch_sizes,
            repeats=base.repeats if repeats is None else repeats,
            warmup=base.warmup if warmup is None else warmup,
            latency_calls=base.latency_calls if latency_calls is None else latency_calls,
            min_repeat_s=base.min_repeat_s,
            threads=threads,
            seed=seed,
            quick=quick,
            dims=dict(dims or {}),
            input_ranges=dict(input_ranges or {}),
            clients=clients,
        )
        s.check()
        return s

    def check(self) -> None:
        if not self.batch_sizes:
            raise UsageError("bad --batch-sizes", "no batch sizes", "give e.g. 1,64,4096")
        bad = [b for b in self.batch_sizes if b < 1]
        if bad:
            raise UsageError("bad --batch-sizes", ", ".join(map(str, bad)), "batch sizes must be positive")
        if len(set(self.batch_sizes)) != len(self.batch_sizes):
            raise UsageError("bad --batch-sizes", "a batch size is listed twice", ", ".join(map(str, self.batch_sizes)))
        if self.repeats < 1:
            raise UsageError("bad --repeats", str(self.repeats), "use at least 1")
        if self.warmup < 0:
            raise UsageError("bad --warmup", str(self.warmup), "use 0 or more")
        if self.latency_calls < 1:
            raise UsageError("bad latency call count", str(self.latency_calls), "use at least 1")
        if self.clients < 1:
            raise UsageError("bad --clients", str(self.clients), "use at least 1")
        if self.threads is not None and self.threads < 1:
            raise UsageError("bad --threads", str(self.threads), "use a positive integer, or leave it unset for each runtime's default")

    def to_dict(self) -> dict[str, Any]:
        return {
            "batch_sizes": list(self.batch_sizes),
            "repeats": self.repeats,
            "warmup_calls": self.warmup,
            "latency_calls": self.latency_calls,
            "min_repeat_seconds": self.min_repeat_s,
            "threads": self.threads,
            "seed": self.seed,
            "clients": self.clients,
            "quick": self.quick,
            "input": self.input_desc or f"uniform [{INPUT_LOW:g}, {INPUT_HIGH:g}) float32 rows, seed {self.seed}",
            "statistic": "latency: nearest-rank percentiles of single timed calls; throughput: median rows/s over the repeats; runtimes take turns",
        }


@dataclass
class LatencyStats:
    calls: int
    p50_us: float
    p90_us: float
    p99_us: float
    mean_us: float
    min_us: float

    def to_dict(self) -> dict[str, Any]:
        return {"calls": self.calls, "p50_us": self.p50_us, "p90_us": self.p90_us, "p99_us": self.p99_us, "mean_us": self.mean_us, "min_us": self.min_us}


@dataclass
class ThroughputPoint:
    batch_size: int
    rows_per_s: float  # median over repeats
    rows_per_s_min: float
    rows_per_s_max: float
    calls_per_repeat: int
    repeats: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "batch_size": self.batch_size,
            "rows_per_s": self.rows_per_s,
            "rows_per_s_min": self.rows_per_s_min,
            "rows_per_s_max": self.rows_per_s_max,
            "seconds_per_call": self.batch_size / self.rows_per_s,
            "calls_per_repeat": self.calls_per_repeat,
            "repeats": self.repeats,
        }


@dataclass
class RuntimeBench:
    runtime: str
    available: bool
    reason: str
    requested: bool
    info: dict[str, Any] = field(default_factory=dict)
    threads: str = ""
    setup_seconds: float = 0.0
    latency: LatencyStats | None = None
    throughput: list[ThroughputPoint] = field(default_factory=list)
    concurrent: dict[str, Any] | None = None  # remote: runtimes with --clients N

    def to_dict(self) -> dict[str, Any]:
        return {
            "runtime": self.runtime,
            "available": self.available,
            "reason": self.reason,
            "requested": self.requested,
            "info": self.info,
            "threads": self.threads,
            "setup_seconds": self.setup_seconds,
            "latency_batch1": self.latency.to_dict() if self.latency else None,
            "throughput": [p.to_dict() for p in self.throughput],
            "concurrent": self.concurrent,
        }


@dataclass
class BenchResult:
    target: str
    model: str | None
    model_sha256: str | None
    settings: BenchSettings
    machine: dict[str, Any]
    runtimes: list[RuntimeBench]
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "model": self.model,
            "model_sha256": self.model_sha256,
            "settings": self.settings.to_dict(),
            "machine": self.machine,
            "runtimes": [r.to_dict() for r in self.runtimes],
            "seconds": self.seconds,
        }


# --- the machine -------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.lower().startswith(("model name", "hardware", "processor\t: ") ) and ":" in line:
                    name = line.split(":", 1)[1].strip()
                    if name and not name.isdigit():
                        return name
    except OSError:
        pass
    if platform.system() == "Darwin":
        import subprocess

        try:
            return subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True, timeout=5).stdout.strip() or platform.machine()
        except (OSError, subprocess.SubprocessError):
            pass
    return platform.processor() or platform.machine() or "unknown"


def machine_info() -> dict[str, Any]:
    """CPU model, cores, load and library versions, read without importing torch or onnxruntime."""
    from irisonnx.training.run import library_versions

    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    try:
        load = [round(v, 2) for v in os.getloadavg()]
    except (OSError, AttributeError):
        load = None
    return {
        "cpu": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": usable,
        "load_average": load,  # 1, 5, 15 minutes, when the bench started
        "platform": platform.platform(),
        "versions": library_versions("onnxruntime", "onnxruntime-gpu", "onnx", "numpy", "torch"),
    }


# --- the measurements --------------------------------------------------------------------


def _percentile(sorted_vals: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (q in 0..100): a value that was measured."""
    k = max(0, min(len(sorted_vals) - 1, math.ceil(q / 100 * len(sorted_vals)) - 1))
    return sorted_vals[k]


_LATENCY_BLOCK = 50  # single calls per runtime before the next runtime's turn


def _median(vals: list[float]) -> float:
    v = sorted(vals)
    mid = len(v) // 2
    return v[mid] if len(v) % 2 else (v[mid - 1] + v[mid]) / 2


def _feeder(rt: Any) -> Callable[[Any], Any]:
    """``rt.run`` on one batch: a classifier's rows fed under its input name (the run's MLP:
    'features'), or any model's feeds (a dict of arrays by input name) as they are."""
    info = rt.ctx.model_info
    name = info.input.name if info is not None and info.is_classifier else "features"
    run = rt.run
    return lambda x: run(x if isinstance(x, dict) else {name: x})


@dataclass
class _Batches:
    """Inputs cut to each batch size: a classifier's rows, or any model's feeds by name."""

    x: Any  # (rows, n_features) array, or dict name -> array whose first dimension is the rows
    sizes: tuple[int, ...]  # the batch sizes that apply
    desc: str = ""
    rows_vary: bool = True  # False: one shape only, timed as is (a call counts its sizes[0] rows)

    def take(self, n: int) -> Any:
        if not self.rows_vary:
            return self.x
        if isinstance(self.x, dict):
            return {k: v[:n] for k, v in self.x.items()}
        return self.x[:n]


def _generic_batches(info: Any, s: BenchSettings) -> _Batches:
    """Generated in-range inputs for a model that is not a classifier (irisonnx.compare.inputs.random_feeds):
    rows along the first dimension when the signature is batched; a fixed batch is timed at
    that batch only; other models at the generated shape only. Each case says so."""
    from irisonnx.compare.inputs import random_feeds

    sig = info.signature
    fixed = sig.fixed_batch()
    firsts = [i.shape[0] if i.shape else 0 for i in sig.inputs]  # 0: a scalar input (no rows)
    rows_vary = fixed is None and bool(firsts) and all(d is None or isinstance(d, str) for d in firsts) and len({d for d in firsts if isinstance(d, str)}) <= 1
    n = max(s.batch_sizes) if rows_vary else (fixed or 1)
    feeds, _ = random_feeds(sig, n, s.seed, s.dims, s.input_ranges, within=True)
    shapes = ", ".join(f"{k} {list(v.shape[1:]) if rows_vary or fixed else list(v.shape)}" for k, v in feeds.items())
    ranges = "; ".join(f"{k} in {s.input_ranges[k][0]:g}..{s.input_ranges[k][1]:g}" for k in s.input_ranges)
    base = f"generated in-range inputs (irisonnx.compare.inputs.random_feeds, seed {s.seed}; floats uniform in 0..10, integers 0..9, bools both" + (f"; {ranges}" if ranges else "") + ")"
    if rows_vary:
        return _Batches(feeds, s.batch_sizes, f"{base}; per row {shapes}; batch sizes along the first dimension")
    if fixed:
        return _Batches(feeds, (fixed,), f"{base}; {shapes} per row; the model has a fixed batch of {fixed}: timed at that batch only, batch-1 latency is per call of {fixed} rows (--batch-sizes does not apply)", rows_vary=False)
    return _Batches(feeds, (1,), f"{base}; {shapes}; the inputs have no shared batch dimension: timed at this shape only, one call counts as one row (--batch-sizes does not apply)", rows_vary=False)


def _latency(fns: list[Callable[[Any], Any]], x1: Any, s: BenchSettings) -> list[LatencyStats]:
    """Batch-1 latency of every runtime, taking turns in blocks of single timed calls."""
    clock = time.perf_counter_ns
    for fn in fns:
        for _ in range(max(s.warmup, 1)):
            fn(x1)
    ns: list[list[int]] = [[] for _ in fns]
    done = 0
    while done < s.latency_calls:
        block = min(_LATENCY_BLOCK, s.latency_calls - done)
        for fn, out in zip(fns, ns):
            for _ in range(block):
                t0 = clock()
                fn(x1)
                out.append(clock() - t0)
        done += block
    stats = []
    for out in ns:
        us = sorted(v / 1000 for v in out)
        stats.append(LatencyStats(len(us), _percentile(us, 50), _percentile(us, 90), _percentile(us, 99), sum(us) / len(us), us[0]))
    return stats


def _throughput(fns: list[Callable[[Any], Any]], x: Any, s: BenchSettings, n: int) -> list[ThroughputPoint]:
    """Rows/s of every runtime at one batch size (``n`` rows a call), the runtimes taking
    turns repeat by repeat."""
    clock = time.perf_counter
    calls = []
    for fn in fns:
        last = 0.0
        for _ in range(max(s.warmup, 1)):  # at least one: the first call may build buffers
            t0 = clock()
            fn(x)
            last = clock() - t0
        calls.append(max(1, math.ceil(s.min_repeat_s / max(last, 1e-9))))
    rates: list[list[float]] = [[] for _ in fns]
    for _ in range(s.repeats):
        for fn, k, out in zip(fns, calls, rates):
            t0 = clock()
            for _ in range(k):
                fn(x)
            out.append(n * k / (clock() - t0))
    return [ThroughputPoint(n, _median(r), min(r), max(r), k, s.repeats) for r, k in zip(rates, calls)]


def _concurrent(fn: Callable[[Any], Any], x1: Any, s: BenchSettings) -> dict[str, Any]:
    """``s.clients`` threads, each making ``s.latency_calls`` batch-1 calls (after its warm-up),
    every call timed on its own: p50/p90/p99 over all calls, and requests/s over the wall time
    from the release of all threads to the last one's end. A remote: runtime keeps one
    connection per thread, so this is N clients in flight at once. An error ends the run and
    is raised (after every thread has stopped)."""
    import threading

    clock = time.perf_counter_ns
    lat: list[list[int]] = [[] for _ in range(s.clients)]
    errors: list[BaseException] = []
    start = threading.Barrier(s.clients + 1)

    def client(out: list[int]) -> None:
        try:
            for _ in range(max(s.warmup, 1)):
                fn(x1)
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread
            errors.append(exc)
        start.wait()
        try:
            for _ in range(s.latency_calls):
                if errors:
                    return
                t0 = clock()
                fn(x1)
                out.append(clock() - t0)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(out,), daemon=True) for out in lat]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if errors:
        raise errors[0]
    us = sorted(v / 1000 for out in lat for v in out)
    return {
        "clients": s.clients,
        "calls": len(us),
        "errors": 0,
        "seconds": wall,
        "requests_per_s": len(us) / wall,
        "p50_us": _percentile(us, 50),
        "p90_us": _percentile(us, 90),
        "p99_us": _percentile(us, 99),
        "statistic": f"{s.clients} client threads, each {s.latency_calls} batch-1 calls after {max(s.warmup, 1)} warm-up calls; requests/s over the wall time",
    }


# --- the target --------------------------------------------------------------------------


def _resolve(target: str | os.PathLike) -> tuple[Any, Any]:
    """(Run or None, ModelInfo or None) for a run folder or an .onnx file (edge variants too)."""
    from irisonnx.training.run import resolve_target

    return resolve_target(target)


def _default_runtimes(run: Any, info: Any) -> list[str]:
    return (["torch"] if run is not None else []) + (["ort-cpu", "ort-cuda"] if info is not None else [])


def _threads_used(rt: Any, asked: int | None) -> str:
    """What the runtime actually runs with, in words (read while it is active)."""
    own = getattr(rt, "threads_used", None)  # a runtime that knows its own (executorch's threadpool)
    if callable(own):
        return own(asked)
    own = getattr(rt, "threads_desc", None)  # a runtime that says it itself (litert)
    if callable(own):
        return own()
    if rt.kind == "remote":
        return "the server's own (one HTTP connection or gRPC channel per client thread here)"
    if rt.kind == "torch":
        import torch

        return f"{torch.get_num_threads()} (torch intra-op{'' if asked else '; irisonnx runs its tiny MLP on one by default'})"
    if rt.kind == "openvino":
        n = rt.info().get("threads")
        return f"{n} (OpenVINO CPU inference threads{'' if asked else '; its default'})"
    pred = getattr(rt, "predictor", None)
    if pred is not None and pred.provider == "cpu" and getattr(pred, "generic", False):
        return f"{asked} (onnxruntime intra-op; session.run)" if asked else "onnxruntime default (intra-op over the usable cores; session.run)"
    if pred is not None and pred.provider == "cpu":
        return f"{pred.workers} (Predictor workers over row chunks, one onnxruntime thread each{'' if asked else '; default: the usable cores'})"
    return f"{asked} (onnxruntime intra-op)" if asked else "onnxruntime default"


# Edge variants of other runtime families: the runtime that runs their file as it is.
FAMILY_RUNTIME = {"litert": "litert"}
FAMILY_SUFFIX = {"litert": ".tflite"}


def _edge_variants(run: Any, names: list[str]) -> list[tuple[str, Any]]:
    """(variant, ModelInfo) for each asked-for variant of ``RUN/edge`` (``all``: every one),
    each file checked against the bundle's manifest (a modified one is exit 3)."""
    from irisonnx.errors import ArtifactError
    from irisonnx.modelfile.onnx_io import resolve_model
    from irisonnx.storage import read_json, sha256_file

    if run is None:
        raise UsageError("--variants needs a run folder", "edge variants live in RUN/edge", "pass the run folder, or bench a variant's .onnx file directly")
    man_path = run.dir / "edge" / "manifest.json"
    if man_path.is_file():
        from irisonnx.guard import artifact_stale, stale_error

        man = read_json(man_path, "edge manifest")
        src = man.get("source") if isinstance(man, dict) else None
        why = artifact_stale(run.dir, "edge", src.get("sha256") if isinstance(src, dict) else None)
        if why is not None:
            raise stale_error(run.dir, "edge", why)
    if not man_path.is_file():
        raise UsageError("the run has no edge bundle", f"{man_path} does not exist", f"build it first: irisonnx edge {run.dir}")
    entries = {v["variant"]: v for v in read_json(man_path, "edge manifest").get("variants", [])}
    # edge:NAME runs each variant's file on its family's runtime: onnxruntime's Predictor, OpenVINO
    # on the IR, LiteRT on the .tflite. Other families' files (an ExecuTorch .pte) are timed as
    # their runtime (--runtimes executorch), and left out of "all".
    timed = ("onnxruntime", "openvino", *FAMILY_RUNTIME)
    timeable = [n for n, v in entries.items() if (v.get("family") or "onnxruntime") in timed]
    wanted = timeable if names == ["all"] else names
    unknown = [n for n in wanted if n not in entries]
    if unknown:
        raise UsageError(f"no such variant in the edge bundle: {', '.join(unknown)}", f"it has {', '.join(entries) or 'none'}")
    other = [n for n in wanted if n not in timeable]
    if other:
        fam = entries[other[0]].get("family")
        raise UsageError(f"bench cannot time edge variant {other[0]} (family {fam})", f"--variants times the bundle's {', '.join(timed)} files", f"time that family as a runtime: --runtimes {fam}")
    if len(set(wanted)) != len(wanted):
        raise UsageError("a variant is listed twice", ", ".join(wanted))
    files = read_json(man_path, "edge manifest").get("files", {})
    out = []
    for name in wanted:
        path = run.dir / "edge" / entries[name]["file"]
        family = entries[name].get("family") or "onnxruntime"
        # Every file of the variant (an OpenVINO .xml and its .bin), against the manifest.
        own = [run.dir / "edge" / f for f, e in files.items() if isinstance(e, dict) and e.get("variant") == name and not f.endswith(".ort")] or [path]
        for p in own:
            want = entries[name].get("sha256") if p == path else files.get(p.name, {}).get("sha256")
            if not p.is_file() or sha256_file(p) != want:
                raise ArtifactError(f"edge variant {name} is missing or was modified", f"{p} does not match edge/manifest.json", f"rebuild the bundle: irisonnx edge {run.dir}")
        if family == "onnxruntime":
            out.append((name, resolve_model(path, allow_unvalidated=True), path))
        elif family == "openvino":
            out.append((name, None, path))  # timed by the openvino runtime on the IR
        else:  # not an ONNX file: the family's runtime runs it as it is (a LiteRT .tflite)
            out.append((name, path, path))
    return out


def run_bench(target: str | os.PathLike, *, runtimes: list[str] | None = None, optional: list[str] | None = None, variants: list[str] | None = None, settings: BenchSettings | None = None, progress: Progress | None = None, headers: list[tuple[str, str]] | None = None) -> BenchResult:
    """Benchmark ``target`` (a run folder or an .onnx file) on each runtime.

    Runtimes asked for that cannot run raise RuntimeUnavailable (exit 4) before anything is
    measured; of the defaults (torch with a run, ort-cpu, ort-cuda), those that cannot run are
    listed as unavailable with the reason. ``variants`` (names from ``RUN/edge``, or ``["all"]``)
    ``optional``: runtimes timed where they can run and listed as unavailable where they
    cannot, even with ``runtimes`` given (the pipeline's runtime families). ``variants``
    adds each edge variant as one more runtime, ``edge:NAME``: the same Predictor on CPU as
    ort-cpu, on that variant's file, taking turns with the others.
    """
    import numpy as np

    from irisonnx.runtimes import RuntimeContext, create, parse_spec

    t_start = time.perf_counter()
    s = settings or BenchSettings()
    s.check()
    machine = machine_info()
    run, info = _resolve(target)
    explicit = runtimes is not None
    specs = list(runtimes) if runtimes is not None else _default_runtimes(run, info)
    optional_set = {o for o in (optional or []) if o not in specs}  # timed where they can run, else listed
    specs += [o for o in (optional or []) if o in optional_set]
    if not specs:
        raise UsageError("nothing to benchmark", f"{target} has neither an exported model nor torch weights")
    for spec in specs:
        parse_spec(spec)
    if len(set(specs)) != len(specs):
        raise UsageError("a runtime is listed twice", ", ".join(specs))

    edge = _edge_variants(run, variants) if variants else []
    ctx = RuntimeContext(model_path=info.path if info else None, run=run, model_info=info, threads=s.threads, headers=list(headers or []))
    if info is not None:
        ctx.output_names = info.output_names
    benches: list[RuntimeBench] = []
    active = []
    for spec in specs:
        rt = create(spec, ctx)
        ok, why = rt.is_available()
        named = explicit and spec not in optional_set
        benches.append(RuntimeBench(rt.name, ok, why, named))
        if not ok and named:
            raise RuntimeUnavailable(f"runtime {rt.name} unavailable", why)
        if ok:
            active.append((rt, benches[-1]))
    for name, vinfo, vpath in edge:
        if isinstance(vinfo, Path):  # another family's file: its runtime, named as the source model's outputs
            family = next(f for f, rt_name in FAMILY_RUNTIME.items() if vinfo.suffix == FAMILY_SUFFIX[f])
            rt = create(FAMILY_RUNTIME[family], RuntimeContext(model_path=vinfo, run=run, model_info=info, threads=s.threads, output_names=list(info.output_names) if info is not None else ["logits"]))
        elif vinfo is None:  # an OpenVINO IR variant: same signature as the source model
            rt = create("openvino", RuntimeContext(model_path=info.path, run=run, model_info=info, threads=s.threads, output_names=info.output_names))
            rt.ir_path = vpath  # type: ignore[attr-defined]
        else:
            rt = create("ort-cpu", RuntimeContext(model_path=vinfo.path, run=run, model_info=vinfo, threads=s.threads, output_names=vinfo.output_names))
        rt.label = f"edge:{name}"
        ok, why = rt.is_available()
        if not ok:
            raise RuntimeUnavailable(f"runtime {rt.name} unavailable", why)
        benches.append(RuntimeBench(rt.name, ok, why, True))
        active.append((rt, benches[-1]))

    if info is not None and not info.is_classifier:
        batches = _generic_batches(info, s)
        s = dataclasses.replace(s, input_desc=batches.desc, batch_sizes=batches.sizes)
    else:
        if s.dims or s.input_ranges:
            raise UsageError("--dim and --input-range are for models that are not irisonnx classifiers", "a classifier is timed on uniform float32 rows")
        n_features = info.n_features if info is not None else run.model_config.n_features
        rng = np.random.default_rng(s.seed)
        x = rng.uniform(INPUT_LOW, INPUT_HIGH, size=(max(s.batch_sizes), n_features)).astype(np.float32)  # (rows, n_features)
        batches = _Batches(x, s.batch_sizes)

    # Every runtime is active at once and they take turns (latency in blocks of calls,
    # throughput repeat by repeat), so a change in the machine's load hits them alike.
    try:
        for rt, b in list(active):
            if progress:
                progress(f"{rt.name}: setting up")
            t0 = time.perf_counter()
            try:
                rt.activate()
            except RuntimeUnsupported as exc:
                # Its converter lacks one of the model's ops: listed as unavailable with the op,
                # the others are still timed (as compare does), even when it was named.
                b.available, b.reason = False, exc.why or str(exc)
                active.remove((rt, b))
                continue
            b.setup_seconds = time.perf_counter() - t0
            b.threads = _threads_used(rt, s.threads)
        fns = [_feeder(rt) for rt, _ in active]
        if fns:
            if progress:
                progress("latency at batch 1")
            for (_, b), lat in zip(active, _latency(fns, batches.take(1), s)):
                b.latency = lat
            for bs in batches.sizes:
                if progress:
                    progress(f"throughput at batch {bs:,}")
                for (_, b), point in zip(active, _throughput(fns, batches.take(bs), s, bs)):
                    b.throughput.append(point)
            for (rt, b), fn in zip(active, fns):
                if rt.kind == "remote":  # --clients: N at once against the server; local runtimes unaffected
                    if progress:
                        progress(f"{rt.name}: {s.clients} concurrent clients")
                    b.concurrent = _concurrent(fn, batches.take(1), s)
        for rt, b in active:
            b.info = rt.info()
    finally:
        for rt, _ in active:
            rt.deactivate()
    return BenchResult(
        target=str(target),
        model=str(info.path) if info is not None else None,
        model_sha256=info.sha256 if info is not None else None,
        settings=s,
        machine=machine,
        runtimes=benches,
        seconds=time.perf_counter() - t_start,
    )
