"""Load test of ``irisonnx serve``: N concurrent tritonclient clients for T seconds per protocol.

Starts ``python -m irisonnx serve RUN`` (a subprocess, loopback, ports it picks), then for each
protocol (HTTP JSON, HTTP binary tensors, gRPC) runs N client threads, each with its own
tritonclient, sending batch-1 requests back to back for T seconds. Reports requests/s, p50/p99
latency, errors, and the server's RSS before and after; beside it the floor: in-process
``session.run`` on the same model and row, single-threaded.

    python benchmarks/serve_load.py [--run RUN] [--clients 8] [--seconds 10] [--json out.json]
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, parser, prepare_run  # noqa: E402


def rss_mb(pid: int) -> float:
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def pct(xs: list[float], q: float) -> float:
    return float(np.percentile(np.array(xs), q)) * 1000 if xs else float("nan")


def load(protocol: str, http: str, grpc_target: str, name: str, x: np.ndarray, clients: int, seconds: float) -> dict[str, Any]:
    import tritonclient.grpc as tg
    import tritonclient.http as th

    lat: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    start = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def worker(i: int) -> None:
        if protocol == "grpc":
            c = tg.InferenceServerClient(grpc_target)
            inp = tg.InferInput("features", list(x.shape), "FP32")
            inp.set_data_from_numpy(x)
            outs = None
        else:
            c = th.InferenceServerClient(http)
            binary = protocol == "http-binary"
            inp = th.InferInput("features", list(x.shape), "FP32")
            inp.set_data_from_numpy(x, binary_data=binary)
            outs = [th.InferRequestedOutput("logits", binary_data=binary)]
        start.wait()
        while True:
            t0 = time.perf_counter()
            if t0 >= stop_at[0]:
                break
            try:
                r = c.infer(name, [inp], outputs=outs)
                r.as_numpy("logits")
                lat[i].append(time.perf_counter() - t0)
            except Exception:  # noqa: BLE001 - counted
                errors[i] += 1
        c.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    stop_at[0] = time.perf_counter() + seconds + 0.05
    start.wait()
    t_start = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t_start
    all_lat = [v for xs in lat for v in xs]
    return {"protocol": protocol, "clients": clients, "seconds": round(wall, 2), "requests": len(all_lat), "errors": sum(errors), "rps": round(len(all_lat) / wall, 1), "p50_ms": round(pct(all_lat, 50), 3), "p99_ms": round(pct(all_lat, 99), 3)}


def floor(onnx_file: Path, x: np.ndarray, seconds: float) -> dict[str, Any]:
    import onnxruntime as ort

    s = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    lat = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        t0 = time.perf_counter()
        s.run(None, {"features": x})
        lat.append(time.perf_counter() - t0)
    return {"protocol": "in-process session.run", "clients": 1, "seconds": seconds, "requests": len(lat), "errors": 0, "rps": round(len(lat) / seconds, 1), "p50_ms": round(pct(lat, 50), 3), "p99_ms": round(pct(lat, 99), 3)}


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--threads", type=int, default=4, help="serve --threads")
    a = ap.parse_args()
    run = prepare_run(a.run)
    x = np.array([[5.1, 3.5, 1.4, 0.2]], np.float32)
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "irisonnx", "serve", str(run), "--name", "iris", "--port", "0", "--grpc-port", "0", "--quiet", "--threads", str(a.threads)], stdout=subprocess.PIPE, text=True, env=env)
    rows = []
    try:
        line = proc.stdout.readline()
        ready_s = time.perf_counter() - t0
        http = re.search(r"http://(\S+?)/v2/", line).group(1)
        grpc_target = re.search(r"grpc://(\S+?);", line).group(1)
        print(f"server ready in {ready_s:.2f} s: {line.strip()}")
        load("http-binary", http, grpc_target, "iris", x, 2, 1.0)  # warm-up
        rss0 = rss_mb(proc.pid)
        for protocol in ("http-json", "http-binary", "grpc"):
            r = load(protocol, http, grpc_target, "iris", x, a.clients, a.seconds)
            r["rss_mb_after"] = round(rss_mb(proc.pid), 1)
            rows.append(r)
            print(r, flush=True)
        rss1 = rss_mb(proc.pid)
        rows.append(floor(run / "model.onnx", x, min(a.seconds, 3.0)))
        print(rows[-1])
        total = sum(r["requests"] for r in rows[:3])
        print(f"server RSS {rss0:.1f} -> {rss1:.1f} MB over {total} requests ({100 * (rss1 - rss0) / rss0:+.1f}%); start to ready {ready_s:.2f} s")
        summary = {"rows": rows, "rss_mb_before": round(rss0, 1), "rss_mb_after": round(rss1, 1), "ready_s": round(ready_s, 2)}
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    if a.json_out:
        Path(a.json_out).write_text(__import__("json").dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    main()
