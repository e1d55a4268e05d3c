"""Where things live, and how a finished folder is put in place."""

from __future__ import annotations

from pathlib import Path

import pytest

from qexplore.endpoint import api_key_from
from qexplore.errors import RecipeError
from qexplore.paths import publish

pytestmark = pytest.mark.unit


def test_publish_replaces_a_folder_whole(tmp_path: Path) -> None:
    final, tmp = tmp_path / "build", tmp_path / ".tmp-build"
    final.mkdir()
    (final / "old.safetensors").write_text("old")
    tmp.mkdir()
    (tmp / "new.safetensors").write_text("new")
    publish(tmp, final)
    assert [p.name for p in final.iterdir()] == ["new.safetensors"]
    assert not tmp.exists()


def test_api_keys_come_from_the_named_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QX_KEY", "sk-1")
    monkeypatch.delenv("QX_NONE", raising=False)
    assert api_key_from("QX_KEY") == "sk-1"
    assert api_key_from(None) is None
    with pytest.raises(RecipeError, match=r"serve\.api_key_env: the environment variable QX_NONE"):
        api_key_from("QX_NONE", "serve.api_key_env")
