"""Issue 15, the browser session: ``irisonnx pipeline`` from scratch (data to report, the
browser runtime and the web bundle included) within 15 s, and ``irisonnx compare RUN
--runtimes ort-cpu,web`` within 2x the browser's own start-up to a first page.

    python benchmarks/browser.py [--run RUN] [--repeats 5] [--pipeline-repeats 3]

The browser's start-up is measured alone in the same script, interleaved with the compare:
``chromium --headless --dump-dom`` of a one-line page (start, load, print, exit), and the same
through playwright-core as the driver launches it (node start, launch, newPage, goto, close).
The pipeline runs in a fresh temp folder each time (its own datastore and run), with the
default flags (dynamo exporter, 100 epochs, web when present, a short bench); its per-stage
seconds come from its --json summary.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import BIN, ROOT, Results, interleaved_wall, median, parser, prepare_run

PAGE = "data:text/html,<title>t</title><p>first page</p>"
PW_SCRIPT = """
import { chromium } from 'playwright-core';
const b = await chromium.launch({ executablePath: process.argv[2], headless: true, args: ['--no-sandbox', '--disable-gpu'] });
const p = await (await b.newContext()).newPage();
await p.goto(process.argv[3]);
await b.close();
process.exit(0);
"""


def pipeline_once(py: str) -> tuple[float, dict[str, float]]:
    """Wall seconds of one pipeline from scratch, and its stages' seconds."""
    with tempfile.TemporaryDirectory(prefix="irisonnx-bench-pipe-") as tmp:
        ds = Path(tmp) / "datastore"
        (ds / "raw").mkdir(parents=True)
        shutil.copyfile(ROOT / "datastore" / "raw" / "iris.csv", ds / "raw" / "iris.csv")
        env = {**os.environ, "IRISONNX_DATASTORE": str(ds)}
        t0 = time.perf_counter()
        r = subprocess.run([py, "-m", "irisonnx", "pipeline", "--run", str(Path(tmp) / "run"), "--json", "-q"], env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if r.returncode != 0:
            sys.exit(f"pipeline failed ({r.returncode}): {r.stderr}")
        doc = json.loads(r.stdout)
        stages = {s["stage"]: float(s.get("seconds", 0.0)) for s in doc.get("stages", [])}
        return wall, stages


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--pipeline-repeats", type=int, default=3)
    a = ap.parse_args()
    from irisonnx.browser.session import browser_available, chromium_path, web_dir

    ok, why = browser_available()
    if not ok:  # run_all.py goes on without these rows
        res = Results("browser session (issue 15): not measured")
        res.note(f"browser runtime unavailable: {why}")
        res.print(a.json_out)
        return
    run = prepare_run(a.run)
    py, cli, chrome = str(BIN / "python"), str(BIN / "irisonnx"), str(chromium_path())
    with tempfile.TemporaryDirectory(prefix="irisonnx-bench-web-") as tmp:
        pw = Path(web_dir()) / f".bench-start-{os.getpid()}.mjs"  # beside node_modules, so node finds playwright-core
        pw.write_text(PW_SCRIPT)
        try:
            cmds = {
                "chromium --dump-dom": [chrome, "--headless", "--no-sandbox", "--disable-gpu", f"--user-data-dir={tmp}/profile", "--dump-dom", PAGE],
                "playwright launch+goto": ["node", str(pw), chrome, PAGE],
                "compare ort-cpu,web": [cli, "compare", str(run), "--runtimes", "ort-cpu,web", "-q"],
                "compare ort-cpu,reference": [cli, "compare", str(run), "--runtimes", "ort-cpu,reference", "-q"],
            }
            t = {k: median(v) for k, v in interleaved_wall(cmds, a.repeats, warmup=1).items()}
        finally:
            pw.unlink(missing_ok=True)

    walls, stage_runs = [], []
    for _ in range(a.pipeline_repeats):
        w, st = pipeline_once(py)
        walls.append(w)
        stage_runs.append(st)
    stages = {k: median([s.get(k, 0.0) for s in stage_runs]) for k in stage_runs[0]}

    res = Results(f"browser session (issue 15): medians of {a.repeats} interleaved runs; pipeline {a.pipeline_repeats} runs from scratch")
    pipe = median(walls)
    res.add("15", "irisonnx pipeline from scratch (data..report, web on)", f"{pipe:.1f} s", "goal 15 s", pipe / 15.0, "<= 15 s", pipe <= 15.0)
    base = t["chromium --dump-dom"]
    r = t["compare ort-cpu,web"] / base
    res.add("15", "compare RUN --runtimes ort-cpu,web", f"{t['compare ort-cpu,web']:.2f} s", f"chromium --headless --dump-dom {base:.2f} s", r, "<= 2x", r <= 2.0)
    r2 = t["compare ort-cpu,web"] / t["playwright launch+goto"]
    res.add("15", "compare RUN --runtimes ort-cpu,web", f"{t['compare ort-cpu,web']:.2f} s", f"playwright launch+goto+close {t['playwright launch+goto']:.2f} s", r2, "(for reference)", None)
    res.note(f"compare ort-cpu,reference (no browser) {t['compare ort-cpu,reference']:.2f} s: the browser costs {t['compare ort-cpu,web'] - t['compare ort-cpu,reference']:.2f} s more")
    res.note("pipeline stages (median s): " + ", ".join(f"{k} {v:.1f}" for k, v in stages.items()))
    res.note(f"pipeline runs (s): {', '.join(f'{w:.1f}' for w in walls)}")
    res.print(a.json_out)


if __name__ == "__main__":
    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    main()
