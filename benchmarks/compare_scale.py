"""Target 4, compare at scale: ``irisonnx compare RUN --runtimes torch,ort-cpu --inputs
random:1000000`` with peak memory under 2x inputs + one output set (16 + 12 bytes a row), and
time within 2x the two runtimes' raw inference time (one torch eager call and one plain
``session.run`` over the whole array).

    python benchmarks/compare_scale.py [--run RUN] [--rows 1000000] [--repeats 3]

Memory: each repeat runs in a fresh process that first warms up (a 1,000-row compare: imports,
torch weights, sessions), then resets the kernel's peak-RSS mark (/proc/self/clear_refs) and
reads its RSS, runs the 1M-row compare and reads the peak again: peak - baseline is what the
compare itself needed, imports and libraries excluded. The CLI's whole max RSS is shown too.
Time: the same process times the compare call (inputs generated inside it); a second fresh
process per repeat times the raw calls on the same rows: torch eager over the whole array
(at its default thread count and at one: the faster is the baseline) and one plain
session.run with onnxruntime's defaults.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

from _common import BIN, Results, median, parser, prepare_run

CHILD = r"""
import json, sys, time
from irisonnx.compare.runner import run_compare

def status(key):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
run, rows, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
run_compare(run, runtimes=["torch", "ort-cpu"], inputs="random:1000", batch_size=batch)
with open("/proc/self/clear_refs", "w") as fh:
    fh.write("5")  # reset VmHWM to the current RSS (Linux >= 4.0)
base = status("VmRSS")
t0 = time.perf_counter()
res = run_compare(run, runtimes=["torch", "ort-cpu"], inputs=f"random:{rows}", batch_size=batch)
dt = time.perf_counter() - t0
peak = status("VmHWM")
secs = {r.spec: r.seconds for r in res.runtimes}
print(json.dumps({"base": base, "peak": peak, "seconds": dt, "inference": secs, "passed": res.passed}))
"""

RAW = r"""
import json, sys, time
import numpy as np, onnxruntime as ort, torch
from irisonnx.compare.inputs import random_rows
from irisonnx.training.run import Run
run, rows, repeats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
r = Run.open(run)
ds = r.dataset()
x = random_rows(rows, ds.meta["stats"]["min"], ds.meta["stats"]["max"], 0)  # compare's very inputs
sess = ort.InferenceSession(run + "/model.onnx", providers=["CPUExecutionProvider"])
model = r.load_model().eval()
default_threads = torch.get_num_threads()
def t_torch(threads):
    torch.set_num_threads(threads)
    with torch.inference_mode():
        model(torch.from_numpy(x)).numpy()
def t_ort():
    sess.run(None, {"features": x})
fns = (("torch", lambda: t_torch(default_threads)), ("torch1", lambda: t_torch(1)), ("ort", t_ort))
out = {k: [] for k, _ in fns}
for _, fn in fns:
    fn()
for _ in range(repeats):
    for k, fn in fns:
        t0 = time.perf_counter(); fn(); out[k].append(time.perf_counter() - t0)
print(json.dumps(out))
"""


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--batch-size", type=int, default=32768, help="compare's --batch-size (its default)")
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    run = str(prepare_run(a.run))
    py = str(BIN / "python")
    runs, raws = [], {"torch": [], "torch1": [], "ort": []}
    for _ in range(a.repeats):  # alternate: compare process, raw process
        r = subprocess.run([py, "-c", CHILD, run, str(a.rows), str(a.batch_size)], capture_output=True, text=True, check=True)
        runs.append(json.loads(r.stdout.strip().splitlines()[-1]))
        r = subprocess.run([py, "-c", RAW, run, str(a.rows), "3"], capture_output=True, text=True, check=True)
        for k, v in json.loads(r.stdout.strip().splitlines()[-1]).items():
            raws[k] += v
    cli_rss = _cli_max_rss(run, a.rows)

    need = a.rows * (4 * 4 + 3 * 4)  # inputs float32 (rows, 4) + one output set float32 (rows, 3)
    extra = median([r["peak"] - r["base"] for r in runs])
    t_cmp = median([r["seconds"] for r in runs])
    # the strict baseline: torch at whichever thread count was faster here (default or one)
    t_torch = min(median(raws["torch"]), median(raws["torch1"]))
    t_raw = t_torch + median(raws["ort"])
    inside = {k: median([r["inference"][k] for r in runs]) for k in ("torch", "ort-cpu")}
    res = Results(f"compare --runtimes torch,ort-cpu --inputs random:{a.rows:,} (batch {a.batch_size:,}): medians of {a.repeats} fresh processes")
    res.add("4", "peak memory beyond the warmed-up process", f"{extra / 2**20:.1f} MiB", f"inputs + one output set {need / 2**20:.1f} MiB", extra / need, "<= 2x", extra / need <= 2)
    res.add("4", "compare time (inputs, both runtimes, statistics)", f"{t_cmp:.2f} s", f"raw torch {t_torch:.2f} s + plain session.run {median(raws['ort']):.2f} s = {t_raw:.2f} s", t_cmp / t_raw, "<= 2x", t_cmp / t_raw <= 2)
    res.note(f"raw torch eager over the whole array: {median(raws['torch']):.2f} s with its default threads, {median(raws['torch1']):.2f} s with one")
    res.note(f"inference inside compare: torch {inside['torch']:.2f} s, ort-cpu {inside['ort-cpu']:.2f} s; all pairs within compare's default atol/rtol: {all(r['passed'] for r in runs)} (random rows reach +-1e6, where float32 logits differ by more than 1e-5 absolute)")
    if cli_rss:
        res.note(f"the whole CLI process (python, torch, onnxruntime and all): max RSS {cli_rss / 2**20:.0f} MiB")
    res.print(a.json_out)


def _cli_max_rss(run: str, rows: int) -> int | None:
    """Max RSS of the real CLI invocation, from the kernel's rusage of the child."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # exit 1 (outputs disagree beyond the default atol on the +-1e6 probes) is a result, not a failure
    r = subprocess.run([str(BIN / "irisonnx"), "compare", run, "--runtimes", "torch,ort-cpu", "--inputs", f"random:{rows}", "--json", "-q"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if r.returncode not in (0, 1):
        return None
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return after * 1024 if after > before else None  # ru_maxrss is the max over all children


if __name__ == "__main__":
    main()
