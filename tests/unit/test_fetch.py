"""A hub model is fetched before its server starts; folders and cached models are not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from qexplore.errors import HardwareError
from qexplore.serve import fetch

pytestmark = pytest.mark.unit


@pytest.fixture
def calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    import huggingface_hub

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    seen: list[tuple[str, Any]] = []

    def snapshot_download(repo: str, allow_patterns: Any = None) -> str:
        seen.append((repo, allow_patterns))
        if repo == "org/broken":
            raise OSError("connection reset by peer")
        return str(tmp_path)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    return seen


def test_a_hub_model_not_cached_is_downloaded_first(calls: list[tuple[str, Any]],
                                                    tmp_path: Path) -> None:
    lines: list[str] = []
    fetch.fetch_model("org/model", lines.append)
    assert calls == [("org/model", fetch.SERVED_FILES)]
    assert "*.safetensors" in fetch.SERVED_FILES and not any("pth" in p for p in fetch.SERVED_FILES)
    assert lines and "before the server's start-up deadline" in lines[0]
    fetch.fetch_model(str(tmp_path))  # a folder: nothing to fetch
    assert len(calls) == 1


def test_a_failed_download_names_the_model(calls: list[tuple[str, Any]]) -> None:
    with pytest.raises(HardwareError, match=r"model org/broken: download failed \(OSError: "
                       r"connection reset by peer\)"):
        fetch.fetch_model("org/broken")
