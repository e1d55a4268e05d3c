from __future__ import annotations

import pytest

from qexplore.catalog.schemes import SCHEMES
from qexplore.catalog.targets import resolve_target

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("spec", "capability"),
    [("cpu", None), ("rtx3090", 8.6), ("RTX 3090", 8.6), ("NVIDIA A100", 8.0), ("h100", 9.0),
     ("8.6", 8.6), ("sm_89", 8.9), ("sm90", 9.0), ("10.0", 10.0), ("l4", 8.9)],
)
def test_resolve_target(spec: str, capability: float | None) -> None:
    assert resolve_target(spec).capability == capability


def test_unknown_target_suggests() -> None:
    with pytest.raises(KeyError, match="did you mean 'RTX4090'"):
        resolve_target("rtx4009")


def test_scheme_registry_is_case_insensitive_with_suggestions() -> None:
    assert SCHEMES.canonical("fp8_dynamic") == "FP8_DYNAMIC"
    with pytest.raises(KeyError, match="did you mean 'W8A8'"):
        SCHEMES.get("W8A9")
    assert SCHEMES.get("W4A16").weight_bits == 4


def test_suggestions_list_the_choices_only_when_asked() -> None:
    from qexplore.registry import suggest

    assert suggest("arc_chalenge", ["arc_challenge", "hellaswag"]) == \
        " — did you mean 'arc_challenge'?"
    assert suggest("zzz", ["a1", "b2"]) == " (choose from: a1, b2)"
    assert suggest("zzz", ["a1", "b2"], list_choices=False) == ""


@pytest.mark.parametrize(
    ("card", "name"),
    [("NVIDIA GeForce RTX 3090", "RTX3090"), ("NVIDIA A100-SXM4-80GB", "A100"),
     ("NVIDIA A100 80GB PCIe", "A100"), ("NVIDIA A100-SXM4-40GB", "A100"),
     ("NVIDIA H100 80GB HBM3", "H100"), ("NVIDIA A10G", "A10G"), ("NVIDIA A10", "A10"),
     ("NVIDIA H200", "H200"), ("NVIDIA RTX A6000", "RTXA6000"), ("Tesla T4", "T4"),
     ("NVIDIA GeForce RTX 3090 Ti", None), ("NVIDIA B300", None)],
)
def test_cards_as_the_driver_names_them(card: str, name: str | None) -> None:
    from qexplore.catalog.targets import card_target

    found = card_target(card)
    assert (found.name if found else None) == name


def test_a_recipe_may_name_the_card_as_the_driver_does() -> None:
    assert resolve_target("NVIDIA GeForce RTX 3090").name == "RTX3090"
