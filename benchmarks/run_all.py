"""Run every target's benchmark (issue 8, targets 1-5; issue 15, the browser session) on one
run and print the results as the markdown table of BENCHMARKS.md.

    python benchmarks/run_all.py [--run RUN] [--quick]

Each script runs in its own process (memory figures need a fresh one); each compares against
its baseline within that process. --quick uses fewer repeats (a smoke test, not for the table).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import machine_header, prepare_run

HERE = Path(__file__).resolve().parent
SCRIPTS = [
    ("startup.py", ["--repeats", "20"], ["--repeats", "3"]),
    ("predict_latency.py", ["--calls", "2000", "--repeats", "21"], ["--calls", "500", "--repeats", "3"]),
    ("throughput.py", ["--repeats", "7", "--calls", "9", "--cli-repeats", "9"], ["--repeats", "1", "--calls", "3", "--cli-repeats", "2"]),
    ("compare_scale.py", ["--repeats", "5"], ["--repeats", "1", "--rows", "100000"]),
    ("training.py", ["--repeats", "9"], ["--repeats", "2", "--epochs", "20"]),
    ("browser.py", ["--repeats", "7", "--pipeline-repeats", "3"], ["--repeats", "1", "--pipeline-repeats", "1"]),
]


def main() -> None:
    quick = "--quick" in sys.argv
    run_arg = sys.argv[sys.argv.index("--run") + 1] if "--run" in sys.argv else None
    run = prepare_run(run_arg)
    print(f"machine: {machine_header()}\nrun: {run}", flush=True)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for script, full, short in SCRIPTS:
            out = Path(tmp) / (script + ".json")
            args = [sys.executable, str(HERE / script), "--run", str(run), "--json", str(out), *(short if quick else full)]
            subprocess.run(args, check=True)
            doc = json.loads(out.read_text())
            rows += [(script, r) for r in doc["rows"]]
    print("\n| # | measure | irisonnx | baseline | ratio | goal | met |\n|---|---|---|---|---|---|---|")
    for script, r in rows:
        ratio = "" if r["ratio"] is None else (f"{r['ratio']:.3f}" if r["ratio"] < 0.1 else f"{r['ratio']:.2f}x")
        met = "" if r["met"] is None else ("yes" if r["met"] else "**no**")
        print(f"| {r['target']} | {r['measure']} | {r['value']} | {r['baseline']} | {ratio} | {r['goal']} | {met} |")


if __name__ == "__main__":
    main()
