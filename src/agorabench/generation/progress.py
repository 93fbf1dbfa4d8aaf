"""A live progress bar for the engine: done/failed, rate, ETA, tokens and dollars."""

from __future__ import annotations

import sys
import time

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from agorabench.generation.engine import RunStats


class RichProgress:
    """Redraws at most a few times a second; the engine calls `update` after every record."""

    def __init__(self, description: str, console: Console | None = None):
        self.console = console or Console(stderr=True)
        self._bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=16),
            TextColumn("{task.completed}/{task.total}"),
            TextColumn("[red]{task.fields[failed]} failed"),
            TextColumn("{task.fields[rate]}/s"),
            TextColumn("eta"),
            TimeRemainingColumn(compact=True),
            TextColumn("{task.fields[tokens]} tok"),
            TextColumn("[green]${task.fields[dollars]}"),
            console=self.console,
            refresh_per_second=4,
            transient=False,
        )
        self._task = self._bar.add_task(description, total=None, failed=0, rate="0.0", tokens="0", dollars="0.00")
        self._last = 0.0

    def __enter__(self) -> RichProgress:
        self._bar.start()
        return self

    def __exit__(self, *exc) -> None:
        self._bar.stop()

    def update(self, stats: RunStats) -> None:
        now = time.monotonic()
        done = stats.finished
        # Formatting every record would cost more than the request at hundreds per second.
        if now - self._last < 0.1 and done < stats.planned:
            return
        self._last = now
        elapsed = max(now - stats.started, 1e-9)
        tokens = stats.prompt_tokens + stats.completion_tokens
        self._bar.update(
            self._task,
            total=stats.planned,
            completed=done,
            failed=stats.failed,
            rate=f"{done / elapsed:.1f}",
            tokens=f"{tokens:,}",
            dollars=f"{stats.cost_usd:.2f}"
            if stats.cost_usd >= 0.01 or not stats.cost_usd
            else f"{stats.cost_usd:.4f}",
        )


def wants_progress(flag: bool | None) -> bool:
    """Default: a bar on an interactive terminal, none in logs and CI."""
    return sys.stderr.isatty() if flag is None else flag
