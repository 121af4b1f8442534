from __future__ import annotations

import click

from irisonnx.cli import bar_width, echo_json, number, parse_int_list


@click.command("train")
@click.option("--data", "data_name", default="iris", show_default=True, help="Dataset name in the datastore, or a processed dataset folder.")
@click.option("--run", "run_dir", type=click.Path(file_okay=False), help="Run folder (default: artifacts/runs/<data name>).")
@click.option("--hidden", default="16", show_default=True, help="Hidden layer sizes, e.g. 16 or 32,16.")
@click.option("--activation", default="relu", show_default=True, type=click.Choice(["relu", "tanh", "gelu", "silu", "sigmoid"]))
@click.option("--epochs", default=100, show_default=True, type=number("epochs"))
@click.option("--batch-size", default=16, show_default=True, type=number("batch_size"))
@click.option("--lr", default=0.01, show_default=True, type=number("lr"), help="Learning rate.")
@click.option("--optimizer", default="adam", show_default=True, type=click.Choice(["adam", "sgd"]))
@click.option("--momentum", default=0.9, show_default=True, type=number("momentum"), help="SGD momentum.")
@click.option("--weight-decay", default=0.0, show_default=True, type=number("weight_decay"))
@click.option("--seed", default=0, show_default=True, type=number("seed"), help="Seeds weight init and shuffling.")
@click.option("--checkpoint-every", default=5, show_default=True, type=number("checkpoint_every"), help="Save a checkpoint every N epochs (and at the end).")
@click.option("--keep-checkpoints", default=3, show_default=True, type=number("keep_checkpoints"), help="Newest checkpoints kept; older ones are removed only after a new one is complete.")
@click.option("--resume/--no-resume", default=True, show_default=True, help="Continue an existing run from its newest checkpoint; --no-resume refuses to touch an existing run.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option("--json", "as_json", is_flag=True, help="Print the final metrics as JSON.")
def command(data_name: str, run_dir: str | None, hidden: str, activation: str, epochs: int, batch_size: int, lr: float, optimizer: str, momentum: float, weight_decay: float, seed: int, checkpoint_every: int, keep_checkpoints: int, resume: bool, quiet: bool, as_json: bool) -> None:
    """Train an MLP; checkpoints are exact, so a stopped or killed run resumes bit-identically.

    \b
    Examples:
      irisonnx train
      irisonnx train --hidden 32,16 --epochs 200 --run artifacts/runs/wide
    Resuming with a different architecture, data, batch size, seed or optimizer exits 2.
    """
    from irisonnx.config import ModelConfig, TrainConfig
    from irisonnx.data.datastore import load_dataset
    from irisonnx.training.train import default_run_dir, train

    hidden_sizes = parse_int_list(hidden, "--hidden", "hidden")
    ds = load_dataset(data_name)
    model_cfg = ModelConfig(n_features=ds.meta["n_features"], n_classes=ds.meta["n_classes"], hidden=hidden_sizes, activation=activation)
    train_cfg = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, optimizer=optimizer, momentum=momentum, weight_decay=weight_decay, seed=seed, checkpoint_every=checkpoint_every, keep_checkpoints=keep_checkpoints)
    run = run_dir or str(default_run_dir(ds.name))

    bars: list = []
    on_epoch = None
    if not quiet and not as_json:
        from tqdm import tqdm

        # Made at the first finished epoch, so a run that is already complete or refused
        # shows no stray 0% bar, and a resumed one starts at the epoch it resumed from.
        def on_epoch(row: dict) -> None:
            if not bars:
                bars.append(tqdm(total=epochs, initial=row["epoch"] - 1, desc="train", unit="epoch", leave=True, **bar_width()))
            bars[0].set_postfix(loss=f"{row['loss']:.4f}", acc=f"{row['train_acc']:.3f}", test=f"{row['test_acc']:.3f}", refresh=False)
            bars[0].update(1)

    try:
        result = train(ds, model_cfg, train_cfg, run, resume=resume, on_epoch=on_epoch)
    finally:
        for bar in bars:
            bar.close()
    final = result.final
    if as_json:
        echo_json({"run": str(result.run_dir), "epochs": result.epochs, "resumed_from": result.resumed_from, "already_complete": result.already_complete, "final": final, "checkpoints_written": result.checkpoints_written})
        return
    if result.removed_temp_files:
        click.echo(f"removed {len(result.removed_temp_files)} temp file(s) left by an interrupted save")
    if result.already_complete:
        click.echo(f"run {result.run_dir} is already trained to epoch {result.epochs}; nothing to do")
    elif result.resumed_from:
        click.echo(f"resumed from epoch {result.resumed_from}")
    click.echo(f"run {result.run_dir}: epoch {final.get('epoch')}  loss {final.get('loss', float('nan')):.4f}  train acc {final.get('train_acc', float('nan')):.3f}  test acc {final.get('test_acc', float('nan')):.3f}")
