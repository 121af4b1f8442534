"""The edge variant registry: one file per variant, one registry line each."""

from __future__ import annotations

import pytest

from irisonnx.edge.variants import REGISTRY, VARIANTS, get
from irisonnx.edge.variants.base import Variant
from irisonnx.errors import UsageError


@pytest.mark.parametrize("name", list(REGISTRY))
def test_every_registered_variant_resolves_to_its_own_file(name: str) -> None:
    v = get(name)
    assert isinstance(v, Variant) and v.name == name
    assert v.file_name == f"model.{name}{v.suffix}" and v.family and v.kind in ("fp32", "fp32-runtime", "fp16", "int8")
    assert REGISTRY[name].split(":")[0].rsplit(".", 1)[1] == name.replace("-", "_")


def test_the_first_variant_is_the_one_source() -> None:
    assert [n for n in VARIANTS if get(n).source] == [VARIANTS[0]] == ["fp32"]


def test_an_unknown_variant_names_the_choices() -> None:
    with pytest.raises(UsageError, match="fp32-opt"):
        get("int4")


def test_edge_help_lists_the_registry() -> None:
    from click.testing import CliRunner

    from irisonnx.cli import cli

    out = CliRunner().invoke(cli, ["edge", "--help"]).output
    assert ", ".join(REGISTRY) in " ".join(out.split())


def _doc_examples() -> list[str]:
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "docs" / "architecture.md").read_text()
    section = text[text.index("## Adding a runtime or an edge variant") :]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def _tiny_model(tmp_path):  # type: ignore[no-untyped-def]
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.arange(12, dtype=np.float32).reshape(4, 3) / 10, "w")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])], [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 3])], [w])
    path = tmp_path / "m.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_the_architecture_docs_examples_work(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """docs/architecture.md's runtime and variant examples, registered as the docs say, run."""
    import sys
    import types

    import numpy as np

    import irisonnx.edge.variants as variants
    import irisonnx.runtimes as runtimes
    from irisonnx.modelfile.onnx_io import load_model_safely

    runtime_src, variant_src = _doc_examples()
    for name, src in (("irisonnx.runtimes.double", runtime_src), ("irisonnx.edge.variants.fp32_sorted", variant_src)):
        mod = types.ModuleType(name)
        exec(compile(src, name, "exec"), mod.__dict__)  # noqa: S102 - our own docs
        monkeypatch.setitem(sys.modules, name, mod)
    monkeypatch.setitem(runtimes.REGISTRY, "double", "irisonnx.runtimes.double:DoubleRuntime")
    monkeypatch.setitem(variants.REGISTRY, "fp32-sorted", "irisonnx.edge.variants.fp32_sorted:VARIANT")

    info = load_model_safely(_tiny_model(tmp_path))
    x = np.ones((2, 4), np.float32)
    rt = runtimes.create("double", runtimes.RuntimeContext(model_path=info.path, model_info=info, output_names=["y"]))
    assert rt.is_available() == (True, "")
    rt.activate()
    assert np.array_equal(rt.run({"x": x})["y"], 2 * x)
    v = get("fp32-sorted")
    out = tmp_path / v.file_name
    v.make(variants.base.Source(info), out, tmp_path / "work", None, None)
    got = v.load(out, 1).run_feeds({"x": x})["y"]
    assert np.allclose(got, x @ (np.arange(12, dtype=np.float32).reshape(4, 3) / 10))
