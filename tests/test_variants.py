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
    assert v.file_name == f"model.{name}{v.suffix}" and v.family and v.kind in ("fp32", "fp16", "int8")
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
