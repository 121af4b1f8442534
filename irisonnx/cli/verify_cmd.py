from __future__ import annotations

import click

from irisonnx.cli import echo_json


@click.command("verify")
@click.argument("run", type=click.Path())
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
def command(run: str, as_json: bool) -> None:
    """Rebuild the model from model.safetensors + config.json and prove it equals the newest checkpoint.

    Every parameter must be bit-identical and both models must give bit-identical outputs on
    every row of the dataset. Exit 0 if so, 1 if not, 3 for a corrupt or tampered file, 2 for a
    missing one.

    \b
    Example:
      irisonnx verify artifacts/runs/iris
    """
    from irisonnx.errors import CheckFailed
    from irisonnx.training.verify import verify_run

    res = verify_run(run)
    if as_json:
        echo_json(res.to_dict())
    else:
        n_same = sum(p.identical for p in res.params)
        click.echo(f"verify {res.run_dir} against {res.checkpoint.name} (epoch {res.checkpoint_epoch})")
        click.echo(f"  parameters  {n_same}/{len(res.params)} tensors bit-identical")
        for p in res.params:
            if not p.identical:
                click.echo(f"    DIFFERS {p.name} {p.shape}: max abs diff {p.max_abs_diff:.3g}")
        click.echo(f"  outputs     {res.n_rows_identical}/{res.n_rows} rows bit-identical, argmax equal on {res.n_argmax_equal}/{res.n_rows}, max abs diff {res.max_abs_diff:.3g}")
        if res.mismatched_rows:
            click.echo(f"    first differing rows: {res.mismatched_rows}")
        click.echo("  PASS" if res.passed else "  FAIL")
    if not res.passed:
        raise CheckFailed("verify failed", f"{res.run_dir} does not reload bit-identically")
