"""remote:URL: inference servers as runtimes in compare and bench.

The peer is a KServe model server (tests/kserve_onnx_server.py: a kserve.Model around
onnxruntime, a server irisonnx did not write) started in a SUBPROCESS: kserve and
tritonclient.grpc cannot be imported into one process. A second, minimal server written here
with the standard library (JSON only, bearer token required, every request recorded) checks
what kserve cannot show: the token is sent, binary inputs refused fall back to JSON, 5xx
answers, and request sizes.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from tests.onnx_helpers import cli, exported_run, one_error_line

kserve_missing = subprocess.run([sys.executable, "-c", "import kserve"], capture_output=True).returncode != 0
needs_kserve = pytest.mark.skipif(kserve_missing, reason="kserve is not installed (pip install 'irisonnx[test]')")
TOKEN = "s3cret-token-4f2a9c"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- models ------------------------------------------------------------------------------


def _save(graph, path: Path) -> Path:
    import onnx
    from onnx import helper

    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, str(path))
    return path


def _cnn(path: Path) -> Path:
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(1)
    w = rng.normal(size=(4, 1, 3, 3)).astype(np.float32)
    fc = rng.normal(size=(4, 5)).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["image", "w"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("GlobalAveragePool", ["r"], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("MatMul", ["f", "fc"], ["scores"]),
    ]
    g = helper.make_graph(nodes, "cnn", [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 1, 8, 8])],
                          [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 5])],
                          [numpy_helper.from_array(w, "w"), numpy_helper.from_array(fc, "fc")])
    return _save(g, path)


def _two_input(path: Path) -> Path:
    """ids int64 [N, 3] and mask bool [N, 3] -> kept int64, half float32, flipped bool."""
    from onnx import TensorProto, helper, numpy_helper

    nodes = [
        helper.make_node("Where", ["mask", "ids", "zero"], ["kept"]),
        helper.make_node("Cast", ["kept"], ["kf"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["kf", "half_c"], ["half"]),
        helper.make_node("Not", ["mask"], ["flipped"]),
    ]
    g = helper.make_graph(nodes, "two", [helper.make_tensor_value_info("ids", TensorProto.INT64, ["N", 3]), helper.make_tensor_value_info("mask", TensorProto.BOOL, ["N", 3])],
                          [helper.make_tensor_value_info("kept", TensorProto.INT64, ["N", 3]), helper.make_tensor_value_info("half", TensorProto.FLOAT, ["N", 3]), helper.make_tensor_value_info("flipped", TensorProto.BOOL, ["N", 3])],
                          [numpy_helper.from_array(np.array(0, dtype=np.int64), "zero"), numpy_helper.from_array(np.array(0.5, dtype=np.float32), "half_c")])
    return _save(g, path)


def _edited(src: Path, dst: Path) -> Path:
    """The model with one weight moved by 0.5."""
    import onnx
    from onnx import numpy_helper

    m = onnx.load(str(src))
    init = next(i for i in m.graph.initializer if i.data_type == onnx.TensorProto.FLOAT and numpy_helper.to_array(i).size > 1)
    a = numpy_helper.to_array(init).copy()
    a.flat[0] += np.float32(0.5)
    init.CopyFrom(numpy_helper.from_array(a, init.name))
    onnx.save(m, str(dst))
    return dst


@pytest.fixture(scope="module")
def models(tmp_path_factory, tiny_run):
    run, _ = exported_run(tmp_path_factory, tiny_run)
    d = tmp_path_factory.mktemp("remote-models")
    return {"run": run, "iris": run / "model.onnx", "cnn": _cnn(d / "cnn.onnx"), "two": _two_input(d / "two.onnx"), "edited": _edited(run / "model.onnx", d / "edited.onnx")}


# --- the kserve peer, in a subprocess ------------------------------------------------------


@pytest.fixture(scope="module")
def kserve_peer(models, tmp_path_factory):
    if kserve_missing:
        pytest.skip("kserve is not installed (pip install 'irisonnx[test]')")
    http_port, grpc_port = _free_port(), _free_port()
    script = Path(__file__).with_name("kserve_onnx_server.py")
    args = [f"{n}={models[n]}" for n in ("iris", "cnn", "two", "edited")]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    log = tmp_path_factory.mktemp("kserve") / "server.log"  # a file, not a pipe: kserve logs every request, a pipe nobody reads fills and stalls it
    fh = open(log, "wb")
    proc = subprocess.Popen([sys.executable, str(script), str(http_port), str(grpc_port), *args], stdout=fh, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail("kserve server ended: " + log.read_text(errors="replace")[-2000:])
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/v2/models/two/ready", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("kserve server not ready within 60 s")
            time.sleep(0.2)
        yield {"http": f"http://127.0.0.1:{http_port}/v2/models", "grpc": f"grpc://127.0.0.1:{grpc_port}"}
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        fh.close()


def _inputs_npz(path: Path, which: str) -> Path:
    rng = np.random.default_rng(7)
    if which == "iris":
        feeds = {"features": rng.uniform(-2, 10, size=(300, 4)).astype(np.float32)}
    elif which == "cnn":
        feeds = {"image": rng.normal(size=(40, 1, 8, 8)).astype(np.float32)}
    else:
        feeds = {"ids": rng.integers(-(2**40), 2**40, size=(50, 3), dtype=np.int64), "mask": rng.integers(0, 2, size=(50, 3)).astype(bool)}
    np.savez(path, **feeds)
    return path


@needs_kserve
@pytest.mark.parametrize("proto", ["http", "grpc"])
@pytest.mark.parametrize("which", ["iris", "cnn", "two"])
def test_compare_exact_against_kserve(capsys, tmp_path, models, kserve_peer, proto, which):
    url = f"{kserve_peer[proto]}/{which}"
    inputs = _inputs_npz(tmp_path / "in.npz", which)
    code, out, err = cli(capsys, "compare", str(models[which]), "--runtimes", f"ort-cpu,remote:{url}", "--inputs", str(inputs), "--exact", "--json")
    assert code == 0, err
    doc = json.loads(out)
    (pair,) = doc["pairs"]
    assert pair["passed"] and pair["runtime"] == f"remote:{url}"
    remote = next(r for r in doc["runtimes"] if r["runtime"] == f"remote:{url}")
    assert remote["info"]["server"]["name"] == "kserve" and remote["info"]["server"]["version"] == "0.21.0"
    assert remote["info"]["model"]["name"] == which
    assert remote["info"]["transport"] == ("gRPC (tritonclient)" if proto == "grpc" else "HTTP, binary tensors")
    # the served outputs, bit for bit, are local onnxruntime's: checked here without irisonnx's comparator
    import onnxruntime as ort

    feeds = dict(np.load(inputs))
    local = ort.InferenceSession(str(models[which]), providers=["CPUExecutionProvider"]).run(None, feeds)
    from irisonnx.runtimes import RuntimeContext, create
    from irisonnx.modelfile.onnx_io import resolve_model

    info = resolve_model(models[which], allow_unvalidated=True)
    rt = create(f"remote:{url}", RuntimeContext(model_path=info.path, model_info=info, output_names=info.output_names))
    try:
        got = rt.run(feeds)
    finally:
        rt.deactivate()
    for name, want in zip(info.output_names, local):
        assert got[name].dtype == want.dtype and got[name].shape == want.shape
        assert got[name].tobytes() == want.tobytes(), name


@needs_kserve
def test_compare_run_torch_ort_remote(capsys, models, kserve_peer):
    code, out, err = cli(capsys, "compare", str(models["run"]), "--runtimes", f"torch,ort-cpu,remote:{kserve_peer['http']}/iris")
    assert code == 0, err
    assert "server kserve 0.21.0 model iris" in out and "PASS" in out


@needs_kserve
@pytest.mark.parametrize("proto", ["http", "grpc"])
def test_edited_model_fails_with_max_abs(capsys, tmp_path, models, kserve_peer, proto):
    import onnxruntime as ort

    inputs = _inputs_npz(tmp_path / "in.npz", "iris")
    x = np.load(inputs)["features"]
    a = ort.InferenceSession(str(models["iris"]), providers=["CPUExecutionProvider"]).run(None, {"features": x})[0]
    b = ort.InferenceSession(str(models["edited"]), providers=["CPUExecutionProvider"]).run(None, {"features": x})[0]
    want = float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))
    assert want > 0.01
    code, out, err = cli(capsys, "compare", str(models["iris"]), "--runtimes", f"ort-cpu,remote:{kserve_peer[proto]}/edited", "--inputs", str(inputs), "--json")
    assert code == 1
    assert "outputs disagree" in one_error_line(err, 1)
    (pair,) = json.loads(out)["pairs"]
    assert not pair["passed"]
    (stats,) = pair["outputs"]
    assert stats["output"] == "logits" and stats["max_abs_error"] == pytest.approx(want, rel=1e-6)
    code, out, err = cli(capsys, "compare", str(models["iris"]), "--runtimes", f"ort-cpu,remote:{kserve_peer[proto]}/edited", "--inputs", str(inputs))
    assert code == 1 and "FAIL" in out


@needs_kserve
@pytest.mark.parametrize("proto", ["http", "grpc"])
def test_signature_mismatch_is_exit_2_naming_it(capsys, models, kserve_peer, proto):
    code, out, err = cli(capsys, "compare", str(models["iris"]), "--runtimes", f"ort-cpu,remote:{kserve_peer[proto]}/cnn")
    assert code == 2
    line = one_error_line(err)
    assert "serves another signature" in line and "no input 'features'" in line and "extra input 'image'" in line


def test_dead_url_is_exit_4(capsys, models):
    port = _free_port()
    for url in (f"http://127.0.0.1:{port}/v2/models/iris", f"grpc://127.0.0.1:{port}/iris"):
        code, out, err = cli(capsys, "compare", str(models["iris"]), "--runtimes", f"ort-cpu,remote:{url}")
        assert code == 4, err
        assert "unavailable" in one_error_line(err)


@pytest.mark.parametrize("url", ["ftp://h/v2/models/m", "http://u:pw@127.0.0.1:1/v2/models/m", "http://127.0.0.1:1/models/m", "http://127.0.0.1:1/v2/models/a/b", ""])
def test_bad_url_is_exit_2(capsys, models, url):
    code, out, err = cli(capsys, "compare", str(models["iris"]), "--runtimes", f"ort-cpu,remote:{url}")
    assert code == 2
    line = one_error_line(err)
    assert "pw" not in line


@needs_kserve
def test_bench_clients_on_remote(capsys, models, kserve_peer):
    url = f"remote:{kserve_peer['http']}/iris"
    code, out, err = cli(capsys, "bench", str(models["iris"]), "--runtimes", f"ort-cpu,{url}", "--clients", "4", "--batch-sizes", "1,64", "--repeats", "1", "--warmup", "2", "--latency-calls", "40", "--json")
    assert code == 0, err
    doc = json.loads(out)
    by = {r["runtime"]: r for r in doc["runtimes"]}
    c = by[url]["concurrent"]
    assert c["clients"] == 4 and c["calls"] == 160 and c["errors"] == 0
    assert 0 < c["p50_us"] <= c["p99_us"] and c["requests_per_s"] > 0
    assert by[url]["latency_batch1"]["p50_us"] > 0 and by[url]["throughput"][0]["rows_per_s"] > 0
    assert by["ort-cpu"]["concurrent"] is None  # local runtimes unaffected
    code, out, err = cli(capsys, "bench", str(models["iris"]), "--runtimes", url, "--clients", "4", "--batch-sizes", "1", "--repeats", "1", "--latency-calls", "20")
    assert code == 0, err
    assert "concurrent clients at batch 1" in out and "server kserve 0.21.0" in out


# --- a minimal OIP server of our own (standard library): token, JSON only, recorded ------------


class _JsonOnlyServer:
    """/v2, /v2/models/NAME, /v2/models/NAME/infer; JSON only (a binary request is a 400);
    a bearer token required (a wrong one is refused with the token echoed back, as a careless
    server might); ``fail_infer`` answers inference with 500. Every request is recorded."""

    def __init__(self, model: Path, token: str) -> None:
        import onnxruntime as ort

        self.sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
        self.token, self.fail_infer, self.seen = token, False, []
        owner = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _send(self, code, doc):
                body = json.dumps(doc).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _auth(self):
                got = self.headers.get("Authorization")
                if got != f"Bearer {owner.token}":
                    self._send(401, {"error": f"unauthorized: got {got!r}"})
                    return False
                return True

            def do_GET(self):
                owner.seen.append(("GET", self.path, dict(self.headers), 0))
                if not self._auth():
                    return
                if self.path == "/v2":
                    return self._send(200, {"name": "stdlib-oip", "version": "0.1", "extensions": []})
                if self.path == "/v2/models/m":
                    dt = {"tensor(float)": "FP32"}
                    meta = lambda args: [{"name": a.name, "datatype": dt[a.type], "shape": [d if isinstance(d, int) else -1 for d in a.shape]} for a in args]
                    return self._send(200, {"name": "m", "versions": ["1"], "platform": "onnxruntime", "inputs": meta(owner.sess.get_inputs()), "outputs": meta(owner.sess.get_outputs())})
                self._send(404, {"error": "no such model"})

            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(n)
                owner.seen.append(("POST", self.path, dict(self.headers), n))
                if not self._auth():
                    return
                if self.headers.get("Inference-Header-Content-Length") is not None:
                    return self._send(400, {"error": "binary tensor extension not supported"})
                if owner.fail_infer:
                    return self._send(500, {"error": "backend crashed\nsecond line"})
                doc = json.loads(body)
                feeds = {i["name"]: np.array(i["data"], dtype=np.float32).reshape(i["shape"]) for i in doc["inputs"]}
                outs = owner.sess.run(None, feeds)
                names = [o.name for o in owner.sess.get_outputs()]
                self._send(200, {"model_name": "m", "outputs": [{"name": k, "datatype": "FP32", "shape": list(v.shape), "data": v.reshape(-1).tolist()} for k, v in zip(names, outs)]})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v2/models/m"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_token_from_env_is_sent_never_shown_and_json_fallback_is_exact(capsys, monkeypatch, tmp_path, models):
    inputs = _inputs_npz(tmp_path / "in.npz", "iris")
    with _JsonOnlyServer(models["iris"], TOKEN) as srv:
        monkeypatch.setenv("IRISONNX_REMOTE_TOKEN", TOKEN)
        code, out, err = cli(capsys, "compare", str(models["iris"]), "--runtimes", f"ort-cpu,remote:{srv.url}", "--inputs", str(inputs), "--exact", "--json", "--report", str(tmp_path / "r.md"))
        assert code == 0, err
        assert all(h.get("Authorization") == f"Bearer {TOKEN}" for _, _, h, _ in srv.seen)
        assert TOKEN not in out and TOKEN not in err and TOKEN not in (tmp_path / "r.md").read_text()
        remote = next(r for r in json.loads(out)["runtimes"] if r["runtime"].startswith("remote:"))
        assert remote["info"]["transport"].startswith("HTTP, JSON") and remote["info"]["server"]["name"] == "stdlib-oip"
        assert "IRISONNX_REMOTE_TOKEN" in remote["info"]["auth"]
        # the binary attempt was refused once; every later request was JSON
        posts = [h for m, _, h, _ in srv.seen if m == "POST"]
        assert "Inference-Header-Content-Length" in posts[0] and all("Inference-Header-Content-Length" not in h for h in posts[1:])
        code, out, err = cli(capsys, "compare", str(models["iris"]), "--runtimes", f"ort-cpu,remote:{srv.url}", "--inputs", str(inputs), "--exact")
        assert code == 0 and TOKEN not in out + err


def test_header_flag_and_refused_token(capsys, monkeypatch, tmp_path, models):
    monkeypatch.delenv("IRISONNX_REMOTE_TOKEN", raising=False)
    with _JsonOnlyServer(models["iris"], TOKEN) as srv:
        code, out, err = cli(capsys, "compare", str(models["iris"]), "--runtimes", f"ort-cpu,remote:{srv.url}", "--header", f"Authorization: Bearer {TOKEN}", "--header", "X-Trace: 1", "--json")
        assert code == 0, err
        assert srv.seen[-1][2].get("X-Trace") == "1" and TOKEN not in out + err
        # a wrong token: exit 2 with the server's text, the token it echoed masked
        wrong = "wrong-token-778899"
        code, out, err = cli(capsys, "compare", str(models["iris"]), "--runtimes", f"ort-cpu,remote:{srv.url}", "--header", f"Authorization: Bearer {wrong}")
        assert code == 2
        line = one_error_line(err)
        assert "401" in line and "unauthorized" in line and wrong not in out + err and "***" in line
        # no token at all
        code, out, err = cli(capsys, "bench", str(models["iris"]), "--runtimes", f"remote:{srv.url}", "--batch-sizes", "1", "--latency-calls", "5")
        assert code == 2 and "401" in one_error_line(err)
        # a malformed --header never repeats its value
        code, out, err = cli(capsys, "compare", str(models["iris"]), "--runtimes", f"ort-cpu,remote:{srv.url}", "--header", f"Authorization Bearer {TOKEN}")
        assert code == 2 and TOKEN not in one_error_line(err)


def test_server_error_5xx_is_exit_4(capsys, monkeypatch, models):
    monkeypatch.setenv("IRISONNX_REMOTE_TOKEN", TOKEN)
    with _JsonOnlyServer(models["iris"], TOKEN) as srv:
        srv.fail_infer = True
        code, out, err = cli(capsys, "compare", str(models["iris"]), "--runtimes", f"ort-cpu,remote:{srv.url}")
        assert code == 4
        line = one_error_line(err)
        assert "500" in line and "backend crashed second line" in line


def test_rows_split_within_request_limit(capsys, monkeypatch, tmp_path, models):
    monkeypatch.setenv("IRISONNX_REMOTE_TOKEN", TOKEN)
    monkeypatch.setenv("IRISONNX_REMOTE_MAX_REQUEST_BYTES", "2048")
    inputs = _inputs_npz(tmp_path / "in.npz", "iris")  # 300 rows
    with _JsonOnlyServer(models["iris"], TOKEN) as srv:
        code, out, err = cli(capsys, "compare", str(models["iris"]), "--runtimes", f"ort-cpu,remote:{srv.url}", "--inputs", str(inputs), "--exact", "--json")
        assert code == 0, err
        posts = [n for m, _, _, n in srv.seen if m == "POST"]
        assert len(posts) > 5 and max(posts) <= 2048


def test_grpc_without_tritonclient_is_unavailable(monkeypatch, models):
    from irisonnx.modelfile.onnx_io import resolve_model
    from irisonnx.runtimes import RuntimeContext, create

    monkeypatch.setitem(sys.modules, "tritonclient.grpc", None)
    info = resolve_model(models["iris"], allow_unvalidated=True)
    ok, why = create("remote:grpc://127.0.0.1:1/iris", RuntimeContext(model_path=info.path, model_info=info)).is_available()
    assert not ok and "pip install 'irisonnx[remote]'" in why
