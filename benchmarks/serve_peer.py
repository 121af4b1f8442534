"""The peer for ``irisonnx serve``: a plain KServe model server on the Iris model under load.

A KServe 0.21 model server (tests/kserve_onnx_server.py: a ``kserve.Model`` around
onnxruntime, one intra-op thread, in its own process) serves the run's model.onnx. Then, each
for ``--seconds`` (default 10) with ``--clients`` (default 8) threads making batch-1 calls:

* ``floor``: in-process ``session.run`` (no server at all);
* ``tritonclient-http-binary``: the standard client, binary tensors (the peer's figure);
* ``irisonnx-remote-http``: irisonnx's own ``remote:`` client (standard library, binary);
* ``tritonclient-grpc``: the standard gRPC client (in a child process: tritonclient.grpc and
  kserve cannot share one, and this script stays free of both for safety).

Reported: requests/s, p50/p99 latency (nearest rank), errors, and the server's RSS before and
after. Client and server share the machine's cores, as in the issue's measurements.

    python benchmarks/serve_peer.py [--run RUN] [--clients 8] [--seconds 10] [--json out.json]
"""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import ROOT, machine_header, parser, prepare_run  # noqa: E402

import numpy as np  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _pct(vals: list[float], q: float) -> float:
    v = sorted(vals)
    return v[max(0, min(len(v) - 1, math.ceil(q / 100 * len(v)) - 1))]


def load(make_call, clients: int, seconds: float) -> dict:
    """``clients`` threads, each with its own client from ``make_call()``, calling until the time is up."""
    lat: list[list[float]] = [[] for _ in range(clients)]
    errors = [0] * clients
    stop = math.inf  # set when every thread is warm
    barrier = threading.Barrier(clients + 1)

    def worker(i: int) -> None:
        call = make_call()
        for _ in range(20):
            call()  # warm-up
        barrier.wait()
        while time.perf_counter() < stop:
            t0 = time.perf_counter()
            try:
                call()
            except Exception:  # noqa: BLE001 - counted
                errors[i] += 1
            lat[i].append(time.perf_counter() - t0)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    stop = t0 + seconds
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    all_ms = [v * 1000 for out in lat for v in out]
    return {"requests": len(all_ms), "errors": sum(errors), "seconds": round(wall, 2), "requests_per_s": round(len(all_ms) / wall, 1), "p50_ms": round(_pct(all_ms, 50), 3), "p99_ms": round(_pct(all_ms, 99), 3)}


GRPC_CHILD = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from benchmarks.serve_peer import load
import numpy as np, tritonclient.grpc as g
url, model, clients, seconds = sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
x = np.random.default_rng(0).uniform(0, 8, size=(1, 4)).astype(np.float32)
def make():
    c = g.InferenceServerClient(url)
    def call():
        i = g.InferInput("features", [1, 4], "FP32"); i.set_data_from_numpy(x)
        return c.infer(model, [i], outputs=[g.InferRequestedOutput("logits")]).as_numpy("logits")
    return call
print(json.dumps(load(make, clients, seconds)))
"""


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=10.0)
    a = ap.parse_args()
    run = prepare_run(a.run)
    model = run / "model.onnx"
    http_port, grpc_port = _free_port(), _free_port()
    log = open(os.devnull, "wb")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    t_start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "kserve_onnx_server.py"), str(http_port), str(grpc_port), f"iris={model}"], stdout=log, stderr=log, env=env)
    rows = {}
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/v2/models/iris/ready", timeout=1):
                    break
            except OSError:
                if proc.poll() is not None:
                    sys.exit("the kserve server ended before it was ready")
                time.sleep(0.05)
        ready_s = time.perf_counter() - t_start
        rss0 = _rss_mb(proc.pid)
        x = np.random.default_rng(0).uniform(0, 8, size=(1, 4)).astype(np.float32)

        import onnxruntime as ort

        def floor():
            o = ort.SessionOptions()
            o.intra_op_num_threads = 1
            s = ort.InferenceSession(str(model), o, providers=["CPUExecutionProvider"])
            return lambda: s.run(None, {"features": x})

        rows["floor (in-process session.run)"] = load(floor, a.clients, a.seconds)

        import tritonclient.http as th

        def triton_http():
            c = th.InferenceServerClient(f"127.0.0.1:{http_port}")

            def call():
                i = th.InferInput("features", [1, 4], "FP32")
                i.set_data_from_numpy(x, binary_data=True)
                return c.infer("iris", [i], outputs=[th.InferRequestedOutput("logits", binary_data=True)]).as_numpy("logits")

            return call

        rows["kserve <- tritonclient HTTP binary"] = load(triton_http, a.clients, a.seconds)

        from irisonnx.modelfile.onnx_io import resolve_model
        from irisonnx.runtimes import RuntimeContext, create

        info = resolve_model(model, allow_unvalidated=True)
        rt = create(f"remote:http://127.0.0.1:{http_port}/v2/models/iris", RuntimeContext(model_path=model, model_info=info, output_names=info.output_names))
        rt.activate()
        rows["kserve <- irisonnx remote: HTTP binary"] = load(lambda: (lambda: rt.run({"features": x})), a.clients, a.seconds)
        rt.deactivate()

        out = subprocess.run([sys.executable, "-c", GRPC_CHILD, str(ROOT), f"127.0.0.1:{grpc_port}", "iris", str(a.clients), str(a.seconds)], capture_output=True, text=True, env=env)
        rows["kserve <- tritonclient gRPC"] = json.loads(out.stdout) if out.returncode == 0 else {"error": out.stderr[-500:]}
        rss1 = _rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(10)
    from importlib.metadata import version

    print(machine_header())
    print(f"kserve {version('kserve')}, tritonclient {version('tritonclient')}; {a.clients} client threads x {a.seconds:g} s, batch 1, Iris model ({model}); server ready {ready_s:.2f} s after start; server RSS {rss0:.0f} -> {rss1:.0f} MB")
    w = max(len(k) for k in rows)
    print(f"{'':<{w}}  {'requests/s':>10}  {'p50 ms':>7}  {'p99 ms':>7}  {'requests':>8}  {'errors':>6}")
    for k, r in rows.items():
        if "error" in r:
            print(f"{k:<{w}}  failed: {r['error']}")
            continue
        print(f"{k:<{w}}  {r['requests_per_s']:>10.1f}  {r['p50_ms']:>7.3f}  {r['p99_ms']:>7.3f}  {r['requests']:>8}  {r['errors']:>6}")
    if a.json_out:
        Path(a.json_out).write_text(json.dumps({"clients": a.clients, "seconds": a.seconds, "ready_s": ready_s, "rss_mb": [rss0, rss1], "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
