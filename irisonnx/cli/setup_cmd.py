from __future__ import annotations

import click

from irisonnx.cli import echo_json


@click.group("setup")
def command() -> None:
    """Install optional pieces that pip does not: the browser runtime's npm packages.

    \b
    Example:
      irisonnx setup web
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
