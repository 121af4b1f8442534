from __future__ import annotations

import click

from irisonnx.cli import echo_json


@click.command("report")
@click.argument("run", type=click.Path())
@click.option("--out", type=click.Path(dir_okay=False), help="Write the report here instead of RUN/report.html.")
@click.option("--json", "as_json", is_flag=True, help="Print the sections and what is missing as JSON.")
def command(run: str, out: str | None, as_json: bool) -> None:
    """Regenerate RUN/report.html from the run folder alone (self-contained, plots inline).

    Sections for parts the run lacks (no export, compare, edge or bench yet) say what is
    missing and how to produce it.

    \b
    Example:
      irisonnx report artifacts/runs/iris
    """
    from irisonnx.report.report import build_report

    res = build_report(run, out)
    if as_json:
        echo_json({"report": str(res.path), "sections": [{"key": s.key, "title": s.title, "images": s.images, "missing": s.missing or None} for s in res.sections]})
        return
    for s in res.sections:
        click.echo(f"  {s.title:<30} {'missing: ' + s.missing if s.missing else 'ok'}")
    click.echo(f"report: {res.path}")
