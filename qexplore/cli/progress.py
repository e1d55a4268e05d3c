"""Live progress for long work: a line per sweep stage, a live line per load level. Quiet
lines when not on a terminal."""

from __future__ import annotations

import time
from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from qexplore.loadtest.levels import Progress as LevelProgress
from qexplore.loadtest.metrics import LevelSummary


class LoadProgress:
    """Observer for the load test: ``update`` per request, ``level_done`` per level."""

    def __init__(self, console: Console, label: str = "") -> None:
        self.console = console
        self.label = label
        self.bar = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("left"),
            TimeRemainingColumn(), console=console,
            transient=False, disable=not console.is_terminal,
        )
        self.tasks: dict[int, TaskID] = {}
        self._last = 0.0

    def __enter__(self) -> LoadProgress:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: tuple[type[BaseException], BaseException, TracebackType]) -> None:
        self.bar.__exit__(None, None, None)

    def update(self, p: LevelProgress) -> None:
        key = id(p.level)
        if key not in self.tasks:
            what = f"{p.level.rate:g} req/s" if p.level.rate else f"{p.level.concurrency} users"
            self.tasks[key] = self.bar.add_task(f"{self.label}{what}", total=p.level.requests,
                                                rate="")
        errors = f", {p.failed} errors" if p.failed else ""
        self.bar.update(self.tasks[key], completed=p.done,
                        rate=f"{p.tokens_per_s:,.0f} tok/s{errors}")
        if not self.console.is_terminal and time.monotonic() - self._last > 30:
            self._last = time.monotonic()
            self.console.print(f"{self.label}{p.level.concurrency} users: {p.done}/"
                               f"{p.level.requests}, {p.tokens_per_s:,.0f} tok/s{errors}")

    def level_done(self, s: LevelSummary) -> None:
        p1 = s.user_tps.p1
        ttft = s.ttft_ms.p99
        errors = f", [red]{s.failed} failed[/]" if s.failed else ""
        self.console.print(
            f"{self.label}{s.concurrency} users: {s.output_tps:,.0f} tok/s, {s.request_tps:.2f} req/s, "
            f"slowest-1% user {p1 or 0:.1f} tok/s, TTFT p99 "
            f"{'–' if ttft is None else f'{ttft:,.0f} ms'}{errors}", highlight=False)


class ConsoleObserver:
    """Sweep progress: one line per stage change, a live line per load level."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.started = time.monotonic()
        self.load = LoadProgress(console)
        self.last: tuple[str, str] | None = None

    def _t(self) -> str:
        s = int(time.monotonic() - self.started)
        return f"[dim]{s // 60:02d}:{s % 60:02d}[/]"

    def stage(self, variant: str, stage: str, detail: str = "") -> None:
        if (variant, stage + detail) != self.last:
            self.last = (variant, stage + detail)
            self.console.print(f"{self._t()} [bold]{variant}[/] {stage}"
                               f"{': ' + detail if detail else ''}", highlight=False)
        self.load.label = f"    {variant} "

    def level_progress(self, variant: str, p: LevelProgress) -> None:
        self.load.update(p)

    def level_done(self, variant: str, s: LevelSummary) -> None:
        self.load.level_done(s)

    def variant_done(self, variant: str, status: str, detail: str = "") -> None:
        color = "green" if status == "ok" else "red"
        self.console.print(f"{self._t()} [bold]{variant}[/] [{color}]{status}[/]"
                           f"{' — ' + detail if detail else ''}", highlight=False)
