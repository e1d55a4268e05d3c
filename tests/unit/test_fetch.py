"""A hub model is fetched before its server starts; folders and cached models are not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from qexplore.errors import HardwareError
from qexplore.serve import fetch

pytestmark = [pytest.mark.unit, pytest.mark.usefixtures("empty_hub_cache")]


@pytest.fixture
def calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Any]]:
    import huggingface_hub

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


def test_a_cached_config_alone_is_not_the_model(calls: list[tuple[str, Any]],
                                                empty_hub_cache: Path) -> None:
    # `huggingface-cli download org/model config.json` leaves only the config: the plan can
    # read the model's shape, but its server would still download the weights.
    repo = empty_hub_cache / "models--org--model"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    snapshot = repo / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    fetch.fetch_model("org/model")
    assert [c[0] for c in calls] == ["org/model"]
    (snapshot / "model.safetensors").write_bytes(b"")
    fetch.fetch_model("org/model")
    assert len(calls) == 1  # weights cached: nothing to fetch
