"""pyproject.toml's extras and the install recipes in docs/install.md agree (issue 16, item 2)."""

from __future__ import annotations

import re
import shlex

import pytest

from conftest import ROOT

tomllib = pytest.importorskip("tomllib")
from packaging.requirements import Requirement  # noqa: E402


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _recipe() -> list[list[str]]:
    text = (ROOT / "docs" / "install.md").read_text()
    block = re.search(r"<!-- gpu-recipe:.*?-->\n```\n(.*?)```", text, re.S)
    assert block, "the GPU recipe block in docs/install.md is gone"
    return [shlex.split(ln.split("#")[0]) for ln in block.group(1).splitlines() if ln.strip()]


def test_the_base_install_has_no_torch_or_matplotlib_and_the_extras_do() -> None:
    p = _project()["project"]
    base = {Requirement(r).name for r in p["dependencies"]}
    assert base == {"numpy", "onnx", "onnxruntime", "click", "safetensors", "tqdm"}
    extras = {k: {Requirement(r).name for r in v} for k, v in p["optional-dependencies"].items()}
    assert extras["train"] == {"torch", "onnxscript"}
    assert extras["report"] == {"matplotlib"}
    assert extras["gpu"] == {"onnxruntime-gpu"}
    assert [str(Requirement(r)) for r in p["optional-dependencies"]["all"]] == ["irisonnx[executorch,litert,openvino,remote,report,serve,train]"]
    # the runtime families: each extra holds its own packages, none of them torch-free ones in base
    assert extras["openvino"] == {"openvino", "nncf"}
    assert extras["litert"] == {"ai-edge-litert", "litert-torch"}
    assert extras["executorch"] == {"executorch"}
    assert {"pytest", "hypothesis", "scikit-learn", "skl2onnx", "polygraphy"} <= extras["test"]
    assert int(re.search(r"setuptools>=(\d+)", str(_project()["build-system"]["requires"])).group(1)) >= 77


def test_the_gpu_recipe_installs_the_base_list_with_onnxruntime_gpu_in_place_of_onnxruntime() -> None:
    p = _project()["project"]
    lines = _recipe()
    assert lines[0] == ["pip", "install", "--no-deps", "irisonnx"]
    for ln in lines:
        assert ln[:2] == ["pip", "install"], ln
    base = [Requirement(a) for a in lines[1][2:]]
    want = [Requirement(r.replace("onnxruntime>", "onnxruntime-gpu>")) for r in p["dependencies"]]
    assert sorted(map(str, base)) == sorted(map(str, want))
    extras = sorted(str(Requirement(a)) for a in lines[2][2:])
    assert extras == sorted(str(Requirement(r)) for r in p["optional-dependencies"]["train"] + p["optional-dependencies"]["report"])


def test_the_makefile_passes_torch_index_to_the_torch_install_only() -> None:
    mk = (ROOT / "Makefile").read_text()
    torch_line = next(ln for ln in mk.splitlines() if "pip install" in ln and "torch==2.13.0" in ln)
    assert "$(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))" in torch_line
    assert sum("TORCH_INDEX" in ln for ln in mk.splitlines() if "pip install" in ln) == 1
    assert "-e '.[all,test]'" in mk
