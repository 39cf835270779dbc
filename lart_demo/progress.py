"""The one progress type every stage reports through, and the two ways the pipeline adapts it.

A stage calls `progress(step, done, total)` (total None = unknown). The run wraps the user's callback
once with `checked` (cancel between batches) and gives each stage a `renamed` view, so the user sees
one clear name per step whatever the stage calls itself.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from lart_demo.errors import LartDemoError

ProgressFn = Callable[[str, int, int | None], None]


def no_progress(step: str, done: int, total: int | None) -> None:
    """Report nothing (the default, and the sink for a stage whose progress another stage reports)."""


class Cancelled(LartDemoError):
    """The user cancelled the run."""

    def __init__(self) -> None:
        super().__init__("Cancelled: the analysis was stopped before it finished.")


def checked(progress: ProgressFn, cancel: threading.Event | None) -> ProgressFn:
    """`progress` that raises `Cancelled` at the next report once `cancel` is set."""

    def report(step: str, done: int, total: int | None) -> None:
        if cancel is not None and cancel.is_set():
            raise Cancelled()
        progress(step, done, total)

    return report


def renamed(progress: ProgressFn, name: str) -> ProgressFn:
    """`progress` that reports under `name`, whatever step name the stage uses."""

    def report(_step: str, done: int, total: int | None) -> None:
        progress(name, done, total)

    return report
