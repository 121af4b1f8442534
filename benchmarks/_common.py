"""Helpers the benchmark scripts share: a run to measure, interleaved timing, results.

Every target is a ratio against a baseline measured *in the same run*, with the candidates
interleaved (A B A B ...), so that load from other processes on the machine hits both alike.
Absolute times drift on a shared box; the ratios are what the targets are about.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # the venv's bin: python and the irisonnx console script


def parser(doc: str | None) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", help="An exported run folder to measure (default: train and export one in a temp folder).")
    ap.add_argument("--json", dest="json_out", help="Also write the result rows to this JSON file.")
    return ap


def prepare_run(run: str | None, epochs: int = 100) -> Path:
    """The given run, or a fresh Iris run (``epochs`` epochs) exported with the torchscript
    exporter (the graph is the same Gemm-Relu-Gemm as dynamo's; it is only faster to make)."""
    if run:
        p = Path(run)
        if not (p / "model.onnx").exists():
            sys.exit(f"{p} has no model.onnx: export it first (irisonnx export {p})")
        return p
    from irisonnx.config import ModelConfig, TrainConfig
    from irisonnx.data.datastore import load_dataset
    from irisonnx.export.export import export_run
    from irisonnx.training.train import train

    ds = load_dataset("iris")
    p = Path(tempfile.mkdtemp(prefix="irisonnx-bench-")) / "iris"
    train(ds, ModelConfig(n_features=ds.meta["n_features"], n_classes=ds.meta["n_classes"], hidden=(16,)), TrainConfig(epochs=epochs), p)
    export_run(p, exporter="torchscript")
    return p


def machine_header() -> str:
    from irisonnx.bench import machine_info

    m = machine_info()
    v = m["versions"]
    load = "/".join(f"{x:g}" for x in m["load_average"]) if m["load_average"] else "?"
    libs = ", ".join(f"{k} {val}" for k, val in v.items() if val != "not installed")
    return f"{m['cpu']}, {m['logical_cores']} cores ({m['usable_cores']} usable), load {load} (1/5/15 min); {libs}; {time.strftime('%Y-%m-%d %H:%M')}"


def median(vals: list[float]) -> float:
    return statistics.median(vals)


def interleaved_wall(cmds: dict[str, list[str]], repeats: int, warmup: int = 2, cwd: str | os.PathLike | None = None, env: dict | None = None) -> dict[str, list[float]]:
    """Wall seconds of each command, ``repeats`` times, interleaved; output discarded.
    A command that fails stops the benchmark (a fast failure is not a fast success)."""
    full_env = {**os.environ, **(env or {})}
    # Start-up as users see it: with bytecode caches. PYTHONDONTWRITEBYTECODE (set in some
    # shells and CI images) makes irisonnx's own modules compile on every start while the
    # libraries in site-packages keep their installed .pyc files: an unfair ~25 ms handicap.
    full_env.pop("PYTHONDONTWRITEBYTECODE", None)

    def once(argv: list[str]) -> float:
        t0 = time.perf_counter()
        r = subprocess.run(argv, cwd=cwd, env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        dt = time.perf_counter() - t0
        if r.returncode != 0:
            sys.exit(f"benchmark command failed ({r.returncode}): {' '.join(argv)}\n{r.stderr.decode(errors='replace')}")
        return dt

    for _ in range(warmup):  # page cache, .pyc files
        for argv in cmds.values():
            once(argv)
    out: dict[str, list[float]] = {k: [] for k in cmds}
    for _ in range(repeats):
        for k, argv in cmds.items():
            out[k].append(once(argv))
    return out


def interleaved_calls(fns: dict[str, Callable[[], Any]], calls: int, repeats: int, warmup_calls: int = 1000) -> dict[str, float]:
    """Median seconds per call of each function over ``repeats`` interleaved loops of ``calls``."""
    for fn in fns.values():  # caches, bindings, branch predictors
        for _ in range(min(calls, warmup_calls)):
            fn()
    runs: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            for _ in range(calls):
                fn()
            runs[k].append((time.perf_counter() - t0) / calls)
    return {k: median(v) for k, v in runs.items()}


def interleaved_once(fns: dict[str, Callable[[], Any]], repeats: int, warmup: int = 1) -> dict[str, list[float]]:
    """Seconds of single calls of each function (for big calls), interleaved."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    runs: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            runs[k].append(time.perf_counter() - t0)
    return runs


class Results:
    """Rows of (target, measure, value, baseline, ratio, goal, met) and their rendering."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.rows: list[dict[str, Any]] = []
        self.notes: list[str] = []

    def add(self, target: str, measure: str, value: str, baseline: str, ratio: float | None, goal: str, met: bool | None) -> None:
        self.rows.append({"target": target, "measure": measure, "value": value, "baseline": baseline, "ratio": ratio, "goal": goal, "met": met})

    def note(self, text: str) -> None:
        self.notes.append(text)

    def print(self, json_out: str | None = None) -> None:
        print(f"\n== {self.title}")
        print(f"machine: {machine_header()}")
        for r in self.rows:
            ratio = "" if r["ratio"] is None else f"{r['ratio']:.2f}x"
            met = "" if r["met"] is None else ("MET" if r["met"] else "MISSED")
            print(f"  [{r['target']}] {r['measure']}: {r['value']}  vs  {r['baseline']}  ->  {ratio}  (goal {r['goal']})  {met}")
        for n in self.notes:
            print(f"  note: {n}")
        if json_out:
            Path(json_out).write_text(json.dumps({"title": self.title, "machine": machine_header(), "rows": self.rows, "notes": self.notes}, indent=2))
