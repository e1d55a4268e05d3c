"""A page rendered by headless Chromium (Debian's ``chromium``; ``make test`` installs it), for
tests of the HTML reports: its screenshot, the console messages and the DOM it built."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0"]


def available() -> bool:
    return shutil.which("chromium") is not None


@dataclass(frozen=True)
class Rendered:
    screenshot: Path
    console: list[str]  # console messages and uncaught errors: a clean page has none
    dom: str
    log: str  # Chromium's stderr, for a failure's message


def render(page: Path, scratch: Path, height: int = 2400, width: int = 1280) -> Rendered:
    """``page`` rendered twice (a screenshot, then the DOM) in a ``width`` × ``height`` window,
    profiles kept under ``scratch``."""
    shot = scratch / f"{page.stem}.png"
    r = subprocess.run(["chromium", *FLAGS, f"--user-data-dir={scratch / 'profile'}",
                        f"--screenshot={shot}", f"--window-size={width},{height}", page.as_uri()],
                       capture_output=True, text=True, timeout=120)
    console = [line for line in r.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    dom = subprocess.run(["chromium", *FLAGS, f"--user-data-dir={scratch / 'profile2'}",
                          f"--window-size={width},{height}", "--dump-dom", page.as_uri()],
                         capture_output=True, text=True,
                         timeout=120).stdout
    return Rendered(shot, console, dom, r.stderr[-2000:])
