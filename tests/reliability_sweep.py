"""Corrupt one file many ways and run irisonnx commands on each copy (not a test module; run
as a script by tests/test_reliability_hostile.py, in a subprocess with a timeout, so that a
crash in a native parser or a hang fails the test instead of taking pytest down with it).

    python reliability_sweep.py JOBS.json

JOBS: a list of ``{"name": NAME, "target": PATH, "mutations": [["truncate", N] | ["flip",
BYTE, BIT] | ["none"]], "commands": [[ARGV...], ...], "forge": MANIFEST_KEY | null}``. For each mutation
the target is rewritten from its original bytes (with ``forge``, the run's manifest entry is
rewritten to match, as an attacker would) and every command runs in this process through
``irisonnx.cli.main``. One JSON line per (mutation, command) on stdout: ``{"job", "m",
"argv": i, "code": exit, "err": stderr}``. Targets and manifests are restored at the end.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from pathlib import Path


def mutate(data: bytes, m: list) -> bytes:
    if m[0] == "truncate":
        return data[: m[1]]
    out = bytearray(data)
    out[m[1]] ^= 1 << m[2]
    return bytes(out)


def forge(manifest: Path, key: str, data: bytes) -> None:
    import hashlib

    doc = json.loads(manifest.read_text())
    doc["files"][key] = {**doc["files"].get(key, {}), "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    manifest.write_text(json.dumps(doc))


def run_job(job: dict, cli_main) -> None:  # type: ignore[no-untyped-def]
    target = Path(job["target"])
    changes = any(m[0] != "none" for m in job["mutations"])
    original = target.read_bytes() if changes else b""
    manifest = target.parent / "manifest.json"
    while not manifest.exists() and manifest.parent != manifest.parent.parent:
        manifest = manifest.parent.parent / "manifest.json"
    saved_manifest = manifest.read_bytes() if job.get("forge") else None
    try:
        for m in job["mutations"]:
            if m[0] != "none":
                data = mutate(original, m)
                target.write_bytes(data)
                if job.get("forge"):
                    forge(manifest, job["forge"], data)
            for i, argv in enumerate(job["commands"]):
                err, out = io.StringIO(), io.StringIO()
                code: int | str = 0
                with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
                    try:
                        cli_main(argv)
                    except SystemExit as exc:
                        code = exc.code if isinstance(exc.code, int) else 1
                print(json.dumps({"job": job["name"], "m": m, "argv": i, "code": code, "err": err.getvalue()}), flush=True)
    finally:
        if changes:
            target.write_bytes(original)
        if saved_manifest is not None:
            manifest.write_bytes(saved_manifest)


def main() -> None:
    import logging
    import warnings

    warnings.simplefilter("ignore")
    logging.disable(logging.CRITICAL)
    from irisonnx.cli import main as cli_main

    for job in json.loads(Path(sys.argv[1]).read_text()):
        run_job(job, cli_main)


if __name__ == "__main__":
    main()
