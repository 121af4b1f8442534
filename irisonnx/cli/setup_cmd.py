from __future__ import annotations

import click

from irisonnx.cli import echo_json


@click.group("setup")
def command() -> None:
    """Install optional pieces that pip does not: the browser runtime's npm packages, the
    ONNX-to-TFLite converter for the litert runtime.

    \b
    Examples:
      irisonnx setup web
      irisonnx setup litert
    """


@command.command("web")
@click.option("--dir", "dest", type=click.Path(file_okay=False), help="Install here instead of the per-user cache ($XDG_CACHE_HOME/irisonnx/web).")
@click.option("--json", "as_json", is_flag=True, help="Print where the packages went and whether the browser runtime is now available, as JSON.")
def web(dest: str | None, as_json: bool) -> None:
    """Install onnxruntime-web and playwright-core for the browser runtime (web) and web bundles.

    Runs `npm ci` from the lock file shipped with irisonnx (no browser download: Chromium
    comes from the system, e.g. apt-get install chromium) into a per-user cache,
    $XDG_CACHE_HOME/irisonnx/web (~/.cache/irisonnx/web), about 160 MB. Needs Node.js with
    npm. A checkout that ran `make web-deps` uses web/node_modules instead. Rerun after
    upgrading irisonnx. Exit 4 without npm or when npm fails.

    \b
    Example:
      irisonnx setup web
    """
    from irisonnx.browser.session import browser_available, setup_web

    where = setup_web(dest)
    ok, why = browser_available() if dest is None else (None, "")
    if as_json:
        echo_json({"dir": str(where), "browser_available": ok, "reason": why or None})
        return
    click.echo(f"web packages installed in {where}")
    if ok is False:
        click.echo(f"browser runtime still unavailable: {why}")


@command.command("litert")
@click.option("--dir", "dest", type=click.Path(file_okay=False), help="Create it here instead of the per-user cache ($XDG_CACHE_HOME/irisonnx/litert-converter); point IRISONNX_LITERT_CONVERTER at it to use it.")
@click.option("--python", "python", default=None, help="The Python to build it from (3.10-3.12; default: this one, else python3.12/3.11/3.10 on PATH).")
@click.option("--json", "as_json", is_flag=True, help="Print where it went, its size and versions as JSON.")
def litert(dest: str | None, python: str | None, as_json: bool) -> None:
    """Create the ONNX-to-TFLite converter (onnx2tf) that lets the litert runtime run ONNX files.

    onnx2tf needs tensorflow 2.19 with numpy 1.26 and onnx 1.19, which clash with irisonnx's
    own environment, so this creates a separate virtual environment in a per-user cache,
    $XDG_CACHE_HOME/irisonnx/litert-converter (~/.cache/irisonnx/litert-converter), with
    pinned versions: about 2.6 GB downloaded from the package index, 2.6 GB on disk. It is
    built in a temporary folder and renamed into place when complete: a failed setup leaves
    nothing behind. Without it, litert converts the torch weights (a run folder or --module)
    with litert-torch instead. Exit 4 when the venv or pip fails.

    \b
    Example:
      irisonnx setup litert
    """
    from irisonnx.runtimes.litert_converter import setup_litert

    res = setup_litert(dest, python=python)
    if as_json:
        echo_json(res.to_dict())
        return
    v = res.versions
    click.echo(f"ONNX-to-TFLite converter installed in {res.dir} ({res.bytes / 1e9:.2f} GB): onnx2tf {v.get('onnx2tf')}, tensorflow {v.get('tensorflow')}, Python {res.python}")
