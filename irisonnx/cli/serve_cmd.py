from __future__ import annotations

import sys

import click

from irisonnx.cli import number


def _need_serve_extra(grpc: bool) -> None:
    import importlib.util

    from irisonnx.errors import RuntimeUnavailable

    mods = ["starlette", "uvicorn", "anyio"] + (["grpc", "google.protobuf"] if grpc else [])
    missing = [m for m in mods if importlib.util.find_spec(m.split(".")[0]) is None]
    if missing:
        raise RuntimeUnavailable("irisonnx serve needs the serve extra", f"{', '.join(missing)} not installed", "pip install 'irisonnx[serve]'")


def _read_token(path: str) -> str:
    from irisonnx.errors import UsageError

    try:
        with open(path, "rb") as f:
            raw = f.read(4097)
    except OSError as exc:
        raise UsageError("cannot read --token-file", f"{path}: {exc.strerror}") from None
    try:
        token = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        token = ""
    if len(raw) > 4096 or len(token) < 16 or any(c.isspace() or not c.isprintable() for c in token):
        raise UsageError("bad --token-file", f"{path} must hold one token of 16 to 4096 printable ASCII characters without spaces", "make one: python -c 'import secrets; print(secrets.token_urlsafe(32))' > FILE")
    return token


@click.command("serve")
@click.argument("target", type=click.Path())
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on. Any non-loopback address needs --token-file.")
@click.option("--port", default=8000, show_default=True, type=number("port"), help="REST port (0: any free port, printed at start).")
@click.option("--grpc-port", default=8001, show_default=True, type=number("port"), help="gRPC port (0: any free port).")
@click.option("--no-grpc", is_flag=True, help="Serve REST only.")
@click.option("--name", default=None, help="Model name in URLs (default: the run's, bundle's or file's name).")
@click.option("--threads", default=4, show_default=True, type=number("serve_threads"), help="Inference calls run at once (per protocol).")
@click.option("--token-file", type=click.Path(dir_okay=False), default=None, help="File holding the bearer token every request but /v2/health/* must send.")
@click.option("--max-request-bytes", default=64 * 1024 * 1024, show_default=True, type=number("request_bytes"), help="Largest request body (or gRPC message) accepted; larger is 413/RESOURCE_EXHAUSTED.")
@click.option("--quiet", is_flag=True, help="No access log (one line per request on stderr otherwise).")
@click.option("--emit-kserve", "emit_dir", type=click.Path(file_okay=False), default=None, help="Write a KServe InferenceService manifest and a Dockerfile for this server into DIR, and exit.")
def command(target: str, host: str, port: int, grpc_port: int, no_grpc: bool, name: str | None, threads: int, token_file: str | None, max_request_bytes: int, quiet: bool, emit_dir: str | None) -> None:
    """Serve a run, an .onnx model or an edge bundle (each variant a version) over the Open
    Inference Protocol (KServe v2): REST /v2 and gRPC, for tritonclient and every OIP client.

    Listens on 127.0.0.1 unless --host says otherwise; a non-loopback --host needs
    --token-file. Bad requests get 4xx and one JSON error line; there are no model load or
    unload endpoints. SIGTERM or Ctrl-C stops it within 2 s (exit 143 or 130).

    \b
    Examples:
      irisonnx serve artifacts/runs/iris
      irisonnx serve artifacts/runs/iris/edge --port 9000 --no-grpc
      irisonnx serve model.onnx --host 0.0.0.0 --token-file /run/secrets/token
      irisonnx serve artifacts/runs/iris --emit-kserve deploy/
    """
    from irisonnx.errors import UsageError
    from irisonnx.serve.models import load_repository

    if emit_dir is not None:
        from irisonnx.serve.kserve import emit_kserve

        repo = load_repository(target, name)
        res = emit_kserve(target, emit_dir, repo)
        click.echo(f"wrote {res['manifest']}, {emit_dir}/Dockerfile and the model for image {res['image']}")
        click.echo(f"  docker build -t IMAGE {emit_dir} && docker push IMAGE   (then set IMAGE in the manifest)")
        click.echo(f"  kubectl create secret generic {res['secret']} --from-file=token=TOKEN_FILE && kubectl apply -f {res['manifest']}")
        return
    _need_serve_extra(not no_grpc)
    from irisonnx.serve.server import ServeOptions, is_loopback, serve

    if not is_loopback(host) and token_file is None:
        raise UsageError(f"--host {host} is not a loopback address and no --token-file was given", "anyone who can reach it could use the model", "give --token-file FILE (a bearer token), or serve on 127.0.0.1")
    token = _read_token(token_file) if token_file else None
    if not no_grpc and grpc_port == port and port != 0:
        raise UsageError("--port and --grpc-port are the same", str(port), "give two ports, or --no-grpc")
    repo = load_repository(target, name, threads=None)

    def log(line: str) -> None:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def announce(http_url: str, grpc_target: str | None) -> None:
        (mname, versions), = repo.models.items()
        first = next(iter(versions.values()))
        auth = "bearer token required" if token else "no token"
        click.echo(f"serving {mname} (versions {', '.join(versions)}; sha256 {first.sha256[:12]}…) on {http_url}/v2/models/{mname}" + (f" and grpc://{grpc_target}" if grpc_target else "") + f"; {auth}; Ctrl-C stops")
        sys.stdout.flush()

    opts = ServeOptions(host=host, port=port, grpc_port=None if no_grpc else grpc_port, token=token, max_request_bytes=max_request_bytes, threads=threads, log=None if quiet else log)
    signum = serve(repo, opts, announce)
    import signal

    click.echo(f"irisonnx: serve stopped by {signal.Signals(signum).name}", err=True)
    sys.exit(128 + signum)
