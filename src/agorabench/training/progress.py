"""A progress bar for training: optimizer steps, loss, tokens/s and time left (the main process only)."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from transformers import TrainerCallback


class RichTrainProgress(TrainerCallback):
    """Replaces the Trainer's printed log dictionaries with one bar on stderr."""

    def __init__(self, description: str = "train", console: Console | None = None):
        self._console = console or Console(stderr=True)
        self._description = description
        self._bar: Progress | None = None
        self._task = None
        self._started = 0.0

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        self._bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=20),
            TextColumn("step {task.completed}/{task.total}"),
            TextColumn("loss {task.fields[loss]}"),
            TextColumn("{task.fields[rate]} tok/s"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(compact=True),
            console=self._console,
            refresh_per_second=2,
        )
        self._task = self._bar.add_task(self._description, total=state.max_steps, loss="-", rate="-")
        self._started = time.monotonic()
        self._bar.start()

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self._bar is None or not logs:
            return
        fields = {}
        if "loss" in logs:
            fields["loss"] = f"{float(logs['loss']):.3f}"
        if "num_tokens" in logs:
            elapsed = max(time.monotonic() - self._started, 1e-9)
            fields["rate"] = f"{float(logs['num_tokens']) / elapsed:.0f}"
        self._bar.update(self._task, **fields)

    def on_step_end(self, args, state, control, **kwargs):
        if self._bar is not None:
            self._bar.update(self._task, completed=state.global_step)

    def on_train_end(self, args, state, control, **kwargs):
        if self._bar is not None:
            self._bar.stop()
            self._bar = None
