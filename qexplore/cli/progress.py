"""Live progress for long work: a line per sweep stage, a live line per load level. Quiet
lines when not on a terminal."""

from __future__ import annotations

import time
from collections.abc import Sequence
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
from rich.table import Table

from qexplore.loadtest.levels import Progress as LevelProgress
from qexplore.loadtest.metrics import LevelSummary
from qexplore.results.formats import cell, sig3
from qexplore.results.rounds import Standing


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
        self.tasks: dict[tuple[object, ...], TaskID] = {}
        self._last = 0.0

    def __enter__(self) -> LoadProgress:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: tuple[type[BaseException], BaseException, TracebackType]) -> None:
        self.bar.__exit__(None, None, None)

    def update(self, p: LevelProgress, label: str | None = None) -> None:
        label = self.label if label is None else label
        lv = p.level  # keyed by what it is: a level's progress may arrive from another node
        key = (label, lv.concurrency, lv.rate, lv.trial, lv.requests)
        if key not in self.tasks:
            what = f"{lv.rate:g} req/s" if lv.rate else f"{lv.concurrency} users"
            self.tasks[key] = self.bar.add_task(f"{label}{what}", total=lv.requests, rate="")
        errors = f", {p.failed} errors" if p.failed else ""
        self.bar.update(self.tasks[key], completed=p.done,
                        rate=f"{sig3(p.tokens_per_s)} tok/s{errors}")
        if not self.console.is_terminal and time.monotonic() - self._last > 30:
            self._last = time.monotonic()
            self.console.print(f"{label}{p.level.concurrency} users: {p.done}/"
                               f"{p.level.requests}, {sig3(p.tokens_per_s)} tok/s{errors}")

    def level_done(self, s: LevelSummary) -> None:
        errors = f", [red]{s.failed} failed[/]" if s.failed else ""
        self.console.print(
            f"{self.label}{s.concurrency} users: {sig3(s.output_tps)} tok/s, "
            f"{sig3(s.request_tps)} req/s, slowest-1% user {cell(s.user_tps.p1, 'user_tps')} "
            f"tok/s, TTFT p99 {cell(s.ttft_ms.p99, 'ttft_ms')} ms{errors}{_client(s)}",
            highlight=False)


BUSY_CLIENT_PCT = 80.0  # of one core: above it, the load generator may be what limits a level


def _client(s: LevelSummary) -> str:
    """The load generator's CPU use, and a warning where it may have been the bottleneck."""
    pct = s.client_cpu_pct
    if pct is None:
        return ""
    if pct < BUSY_CLIENT_PCT:
        return f", client CPU {pct:.0f} %"
    return (f", [yellow]client CPU {pct:.0f} % of a core: the load generator may be the "
            "bottleneck (fewer users per client, or a client on another machine)[/]")


def placement_table(rows: list[tuple[str, str, int]], left_out: list[str]) -> Table:
    """Where each variant will run on the cluster, its place in that node's queue, and the
    nodes left out (each with why)."""
    table = Table(title="placement on the Ray cluster", box=None, header_style="bold",
                  title_justify="left", caption="\n".join(f"left out: {x}" for x in left_out),
                  caption_justify="left")
    for col in ("variant", "node", "order on node"):
        table.add_column(col, justify="right" if col == "order on node" else "left")
    for variant, node, k in rows:
        table.add_row(variant, node, "first" if k == 1 else f"after {k - 1}")
    return table


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
        self.load.update(p, f"    {variant} ")

    def level_done(self, variant: str, s: LevelSummary) -> None:
        self.load.label = f"    {variant} "
        self.load.level_done(s)

    def placement(self, rows: list[tuple[str, str, int]], left_out: list[str]) -> None:
        self.console.print(placement_table(rows, left_out))

    def rounds(self, heading: str, states: Sequence[Standing]) -> None:
        self.console.print(f"{self._t()} [bold]{heading}[/]", highlight=False)
        for s in states:
            self.console.print(f"    {s.line()}", highlight=False)

    def variant_done(self, variant: str, status: str, detail: str = "") -> None:
        color = "green" if status == "ok" else "red"
        self.console.print(f"{self._t()} [bold]{variant}[/] [{color}]{status}[/]"
                           f"{' — ' + detail if detail else ''}", highlight=False)
