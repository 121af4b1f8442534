"""Target 5, training: the library's loop with a progress bar and checkpoints every 5 epochs
costs at most 1.3x a bare hand-written loop (same model, data, batch size, optimiser and
thread count, manual index shuffling, no DataLoader, no evaluation, no checkpoints), written
as a user would: ``torch.optim.Adam`` with its defaults. train() uses Adam's fused kernel
(``fused=True``), so a bare loop with that kernel is timed too, and the library's own
overhead over it (bar, metrics, checkpoints) is printed as well: the honest figure for
what the bookkeeping costs.

    python benchmarks/training.py [--epochs 100] [--repeats 5]

Each repeat trains both from scratch, interleaved (library, bare, library, bare, ...), in one
process after a warm-up of each; medians. The library run writes real checkpoints (atomic,
fsynced, manifest) into a fresh temp folder each time, and its tqdm bar (as ``irisonnx train``
draws it) writes to /dev/null. Also timed, to show where the difference goes: the library
without the bar, without the bar and with only the final checkpoint, and the bare loop plus
the metrics train() records every epoch (loss.item() per batch, train and test evaluation).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

from _common import Results, median, parser


def main() -> None:
    import torch
    import torch.nn.functional as F
    from tqdm import tqdm

    from irisonnx.config import ModelConfig, TrainConfig
    from irisonnx.data.datastore import load_dataset
    from irisonnx.training.model import MLP
    from irisonnx.training.train import train

    ap = parser(__doc__)
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()

    ds = load_dataset("iris")
    mcfg = ModelConfig(n_features=ds.meta["n_features"], n_classes=ds.meta["n_classes"], hidden=(16,))
    tcfg = TrainConfig(epochs=a.epochs, checkpoint_every=5)
    work = Path(tempfile.mkdtemp(prefix="irisonnx-train-bench-"))
    sink = open(os.devnull, "w")

    def library(bar: bool = True, every: int = 5) -> None:
        run = work / "run"
        shutil.rmtree(run, ignore_errors=True)
        bars: list = []

        def on_epoch(row: dict) -> None:  # what irisonnx train's bar does per epoch
            if not bars:
                bars.append(tqdm(total=a.epochs, initial=row["epoch"] - 1, desc="train", unit="epoch", leave=True, file=sink))
            bars[0].set_postfix(loss=f"{row['loss']:.4f}", acc=f"{row['train_acc']:.3f}", test=f"{row['test_acc']:.3f}", refresh=False)
            bars[0].update(1)

        cfg = tcfg if every == tcfg.checkpoint_every else TrainConfig(epochs=a.epochs, checkpoint_every=every)
        train(ds, mcfg, cfg, run, on_epoch=on_epoch if bar else None)
        for b in bars:
            b.close()

    def bare(evaluate: bool = False, fused: bool | None = None) -> None:
        torch.manual_seed(tcfg.seed)
        model = MLP(mcfg, ds.meta["stats"]["mean"], ds.meta["stats"]["std"])
        opt = torch.optim.Adam(model.parameters(), lr=tcfg.lr, fused=fused)
        x = torch.from_numpy(ds.features)[ds.train_idx]  # (n_train, n_features)
        y = torch.from_numpy(ds.labels)[ds.train_idx]  # (n_train,)
        g = torch.Generator().manual_seed(tcfg.seed)
        n, bs = x.shape[0], tcfg.batch_size
        xt, yt = torch.from_numpy(ds.features)[ds.test_idx], torch.from_numpy(ds.labels)[ds.test_idx]
        for _ in range(a.epochs):
            perm = torch.randperm(n, generator=g)
            loss_sum = 0.0
            for i in range(0, n, bs):
                idx = perm[i : i + bs]
                opt.zero_grad(set_to_none=True)
                loss = F.cross_entropy(model(x[idx]), y[idx])
                loss.backward()
                opt.step()
                if evaluate:
                    loss_sum += loss.item() * len(idx)
            if evaluate:  # what train() records per epoch: train accuracy, test loss and accuracy
                with torch.no_grad():
                    for xe, ye in ((x, y), (xt, yt)):
                        logits = model(xe)
                        float(F.cross_entropy(logits, ye)), float((logits.argmax(1) == ye).float().mean())

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # what train() runs with (it sets and restores this itself)
    try:
        fns = {
            "library": library,
            "library, no bar": lambda: library(bar=False),
            "library, no bar, final checkpoint only": lambda: library(bar=False, every=a.epochs),
            "bare + per-epoch metrics": lambda: bare(evaluate=True),
            "bare, fused Adam (as train() uses)": lambda: bare(fused=True),
            "bare": bare,
        }
        for fn in fns.values():
            fn()
        t: dict[str, list[float]] = {k: [] for k in fns}
        for _ in range(a.repeats):
            for k, fn in fns.items():
                t0 = time.perf_counter()
                fn()
                t[k].append(time.perf_counter() - t0)
        fsync_ms = _fsync_ms(work)
    finally:
        torch.set_num_threads(threads)
        shutil.rmtree(work, ignore_errors=True)
    m = {k: median(v) for k, v in t.items()}
    ep = {k: v / a.epochs * 1e3 for k, v in m.items()}
    res = Results(f"training {a.epochs} epochs of Iris (batch {tcfg.batch_size}, one torch thread): median of {a.repeats} interleaved runs")
    r = m["library"] / m["bare"]
    res.add("5", "train() with bar and checkpoints every 5 epochs", f"{m['library']:.2f} s ({ep['library']:.2f} ms/epoch)", f"bare loop {m['bare']:.2f} s ({ep['bare']:.2f} ms/epoch)", r, "<= 1.3x", r <= 1.3)
    for k in ("library, no bar", "library, no bar, final checkpoint only", "bare + per-epoch metrics", "bare, fused Adam (as train() uses)"):
        res.note(f"{k}: {m[k]:.2f} s ({ep[k]:.2f} ms/epoch, {m[k] / m['bare']:.2f}x bare)")
    fused = m["bare, fused Adam (as train() uses)"]
    res.note(f"the library's own overhead (bar, metrics, checkpoints) over a bare loop with the same fused Adam: {m['library'] / fused:.2f}x")
    res.note(f"one fsync of a small file in the same file system: median {fsync_ms:.2f} ms (a checkpoint is ~4-5: checkpoint file and folder, manifest file and folder)")
    res.print(a.json_out)


def _fsync_ms(folder: Path, n: int = 21) -> float:
    """What durability costs here: a 4 KB write + fsync, the unit of every atomic save."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "fsync-probe"
    ts = []
    for _ in range(n):
        with open(path, "wb") as fh:
            fh.write(b"x" * 4096)
            fh.flush()
            t0 = time.perf_counter()
            os.fsync(fh.fileno())
            ts.append(time.perf_counter() - t0)
    path.unlink()
    return median(ts) * 1e3


if __name__ == "__main__":
    main()
