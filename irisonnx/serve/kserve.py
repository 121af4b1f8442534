"""``irisonnx serve TARGET --emit-kserve DIR``: the same server, packaged for KServe.

Writes, into DIR (replaced as a whole, atomically)::

    inferenceservice.yaml   a serving.kserve.io/v1beta1 InferenceService running the container
    Dockerfile              python slim + pinned requirements + this irisonnx + the model
    requirements.txt        exact versions of what the server imports, from this environment
    irisonnx/               this irisonnx's package source (the image runs the very same code)
    model/                  the served model file(s) with their manifest (sha256 checked at start)

The container listens on 0.0.0.0:8080 (REST; KServe routes one port per container) and so
requires its bearer token, mounted from the Secret ``NAME-token`` (key ``token``). No cluster is
needed to write or check any of it.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

from irisonnx.errors import UsageError

__all__ = ["emit_kserve", "manifest", "to_yaml", "PINNED"]

# distributions the server imports (irisonnx serve never imports torch)
PINNED = ("onnxruntime", "onnx", "numpy", "click", "safetensors", "starlette", "uvicorn", "anyio", "h11", "grpcio", "protobuf")
PORT = 8080
TOKEN_DIR = "/var/run/secrets/irisonnx"
MARK = "inferenceservice.yaml"


def _scalar(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return json.dumps(v)
    return json.dumps(str(v))  # a JSON string is a YAML double-quoted scalar


def to_yaml(obj: Any, indent: int = 0) -> str:
    """Block-style YAML for dicts, lists and scalars (strings always quoted)."""
    pad = " " * indent
    lines: list[str] = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, (dict, list)) and v:
                lines.append(f"{pad}{k}:")
                lines.append(to_yaml(v, indent + 2))
            else:
                lines.append(f"{pad}{k}: {_scalar(v) if not isinstance(v, (dict, list)) else ('{}' if isinstance(v, dict) else '[]')}")
    elif isinstance(obj, list):
        for v in obj:
            if isinstance(v, (dict, list)) and v:
                body = to_yaml(v, indent + 2).lstrip(" ")
                lines.append(f"{pad}- {body}")
            else:
                lines.append(f"{pad}- {_scalar(v)}")
    else:
        lines.append(pad + _scalar(obj))
    return "\n".join(lines)


def _dns_name(name: str) -> str:
    import re

    n = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:50] or "model"
    return n if n[0].isalpha() else "m-" + n


def server_args(model_path: str, name: str) -> list[str]:
    return [model_path, "--name", name, "--host", "0.0.0.0", "--port", str(PORT), "--no-grpc", "--token-file", f"{TOKEN_DIR}/token"]


def manifest(name: str, model_path: str, sha256: str, image: str) -> dict[str, Any]:
    """The InferenceService as plain data (what inferenceservice.yaml holds)."""
    svc = _dns_name(name)
    probe = {"httpGet": {"path": "/v2/health/ready", "port": PORT}, "periodSeconds": 5}
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {
            "name": svc,
            "labels": {"app.kubernetes.io/name": svc, "app.kubernetes.io/managed-by": "irisonnx"},
            "annotations": {"irisonnx/model-sha256": sha256, "irisonnx/protocol": "v2", "serving.kserve.io/deploymentMode": "Serverless"},
        },
        "spec": {
            "predictor": {
                "minReplicas": 1,
                "maxReplicas": 4,
                "scaleMetric": "concurrency",
                "scaleTarget": 8,
                "containers": [
                    {
                        "name": "kserve-container",
                        "image": image,
                        "command": ["python", "-m", "irisonnx", "serve"],
                        "args": server_args(model_path, name),
                        "ports": [{"name": "http1", "containerPort": PORT, "protocol": "TCP"}],
                        "env": [{"name": "PROTOCOL", "value": "v2"}],
                        "readinessProbe": probe,
                        "livenessProbe": {"httpGet": {"path": "/v2/health/live", "port": PORT}, "periodSeconds": 10},
                        "resources": {"requests": {"cpu": "1", "memory": "512Mi"}, "limits": {"cpu": "2", "memory": "1Gi"}},
                        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True},
                        "volumeMounts": [{"name": "irisonnx-token", "mountPath": TOKEN_DIR, "readOnly": True}],
                    }
                ],
                "volumes": [{"name": "irisonnx-token", "secret": {"secretName": f"{svc}-token"}}],
            }
        },
    }


def requirements() -> list[str]:
    out = []
    for dist in PINNED:
        try:
            out.append(f"{dist}=={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            continue
    return out


def dockerfile(name: str, model_path: str) -> str:
    v = sys.version_info
    args = json.dumps(["python", "-m", "irisonnx", "serve"])
    cmd = json.dumps(server_args(model_path, name))
    return f"""# irisonnx serve {name}: the same server as `irisonnx serve`, for KServe (see inferenceservice.yaml).
# Build: docker build -t IMAGE . ; push IMAGE and set it in inferenceservice.yaml.
FROM python:{v.major}.{v.minor}.{v.micro}-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PYTHONPATH=/opt/irisonnx
COPY requirements.txt /tmp/requirements.txt
RUN pip install --no-cache-dir -r /tmp/requirements.txt && rm /tmp/requirements.txt
COPY irisonnx /opt/irisonnx/irisonnx
COPY model /models/{name}
RUN useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin irisonnx
USER 10001
EXPOSE {PORT}
ENTRYPOINT {args}
CMD {cmd}
"""


def _model_files(target: Path, served_path: Path) -> tuple[list[Path], str]:
    """The files to copy and the served path relative to model/."""
    if target.is_dir() and (target / "config.json").exists():  # a run: its model and manifest
        return [served_path, served_path.parent / "manifest.json"], served_path.name
    if target.is_dir():  # an edge bundle: all of it
        return [p for p in sorted(target.iterdir()) if p.is_file()], ""
    files = [target]
    if (target.parent / "manifest.json").is_file():
        files.append(target.parent / "manifest.json")
    return files, target.name


def emit_kserve(target: str | Path, out: str | Path, repo: Any, image: str | None = None) -> dict[str, Any]:
    """Write the KServe deployment of ``repo`` (loaded from ``target``) into ``out``."""
    from irisonnx.guard import check_output

    t, o = Path(target), Path(out)
    if o.exists() and (not o.is_dir() or (any(o.iterdir()) and not (o / MARK).is_file())):
        raise UsageError("refusing to replace a folder that --emit-kserve did not write", str(o), "choose another folder, or empty it")
    check_output(o / MARK, "--emit-kserve")
    (name, versions), = repo.models.items()
    first = next(iter(versions.values()))
    files, rel = _model_files(t, Path(first.path))
    model_path = f"/models/{name}/{rel}".rstrip("/")
    image = image or f"irisonnx-serve-{_dns_name(name)}:{first.sha256[:12]}"
    o.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{o.name}.", dir=o.parent))
    try:
        (staging / "model").mkdir()
        for f in files:
            shutil.copy2(f, staging / "model" / f.name)
        pkg = Path(__file__).resolve().parent.parent
        shutil.copytree(pkg, staging / "irisonnx", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        doc = manifest(name, model_path, first.sha256, image)
        (staging / MARK).write_text(to_yaml(doc) + "\n", encoding="utf-8")
        (staging / "requirements.txt").write_text("\n".join(requirements()) + "\n", encoding="utf-8")
        (staging / "Dockerfile").write_text(dockerfile(name, model_path), encoding="utf-8")
        if o.exists():
            old = o.parent / f".{o.name}.old"
            shutil.rmtree(old, ignore_errors=True)
            o.rename(old)
            staging.rename(o)
            shutil.rmtree(old, ignore_errors=True)
        else:
            staging.rename(o)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return {"dir": str(o), "manifest": str(o / MARK), "image": image, "model_path": model_path, "secret": f"{_dns_name(name)}-token"}
