"""Target 1, start-up: ``irisonnx --help`` within 2x ``python -c "import click"``, and
``irisonnx predict MODEL --values ...`` within 1.3x a minimal onnxruntime + numpy script.

    python benchmarks/startup.py [--run RUN] [--repeats 20]

Wall time of fresh processes (the console script, as a user runs it), interleaved, medians.
Also times the imports alone, to show where the start-up of predict goes.
"""

from __future__ import annotations

import sys

from _common import BIN, Results, interleaved_wall, median, parser, prepare_run

VALUES = "5.1,3.5,1.4,0.2"


def main() -> None:
    ap = parser(__doc__)
    ap.add_argument("--repeats", type=int, default=20)
    a = ap.parse_args()
    run = prepare_run(a.run)
    model = str(run / "model.onnx")
    py, cli = str(BIN / "python"), str(BIN / "irisonnx")
    here = __file__.rsplit("/", 1)[0]
    cmds = {
        "import click": [py, "-c", "import click"],
        "irisonnx --help": [cli, "--help"],
        "minimal script": [py, f"{here}/minimal_predict.py", model, VALUES],
        "irisonnx predict MODEL": [cli, "predict", model, "--values", VALUES],
        "irisonnx predict RUN": [cli, "predict", str(run), "--values", VALUES],
        "python -c pass": [py, "-c", "pass"],
        "import numpy, onnxruntime": [py, "-c", "import numpy, onnxruntime"],
        "import numpy, onnxruntime, onnx": [py, "-c", "import numpy, onnxruntime, onnx"],
    }
    t = {k: median(v) for k, v in interleaved_wall(cmds, a.repeats).items()}
    res = Results(f"start-up: median wall time of {a.repeats} interleaved fresh processes")
    r = t["irisonnx --help"] / t["import click"]
    res.add("1", "irisonnx --help", f"{t['irisonnx --help'] * 1e3:.0f} ms", f"python -c 'import click' {t['import click'] * 1e3:.0f} ms", r, "<= 2x", r <= 2)
    for k in ("irisonnx predict MODEL", "irisonnx predict RUN"):
        r = t[k] / t["minimal script"]
        res.add("1", f"{k} --values", f"{t[k] * 1e3:.0f} ms", f"minimal ort+numpy script {t['minimal script'] * 1e3:.0f} ms", r, "<= 1.3x", r <= 1.3)
    res.note(f"bare interpreter {t['python -c pass'] * 1e3:.0f} ms; import numpy+onnxruntime {t['import numpy, onnxruntime'] * 1e3:.0f} ms; with onnx too {t['import numpy, onnxruntime, onnx'] * 1e3:.0f} ms")
    res.print(a.json_out)


if __name__ == "__main__":
    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    main()
