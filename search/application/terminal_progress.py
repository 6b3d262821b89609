"""Named steps on the terminal, as tqdm bars: what the first launch is doing, and how far it is.

A step with a known size (files) is a bar; one without (loading the model, building the
index) is a line whose elapsed time keeps ticking, so the terminal never looks stuck.
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import TextIO

from tqdm import tqdm

TICK_S = 1.0


class TerminalSteps:
    """One line per step, ``[i/n] name``; the previous step's line is closed when the next starts."""

    def __init__(self, steps: int, enabled: bool = True, file: TextIO | None = None) -> None:
        self._steps = steps
        self._enabled = enabled
        self._file = file
        self._bar: tqdm | None = None
        self._name = ""
        self._lock = threading.Lock()
        self._ticker: threading.Event | None = None

    def step(self, number: int, name: str, total: int | None = None, unit: str = "file") -> None:
        """Start step ``number`` (1-based); ``total`` makes it a bar, None a ticking clock."""
        with self._lock:
            self._close()
            self._name = name
            if not self._enabled:
                return
            desc = f"[{number}/{self._steps}] {name}"
            if total is None:
                self._bar = tqdm(
                    desc=desc, bar_format="{desc} … {elapsed}", file=self._file or sys.stderr, leave=True
                )
                stop = threading.Event()
                self._ticker = stop
                threading.Thread(target=self._tick, args=(self._bar, stop), daemon=True).start()
            else:
                self._bar = tqdm(
                    desc=desc, total=total, unit=unit, file=self._file or sys.stderr, dynamic_ncols=True
                )

    def update(self, done: int, note: str = "") -> None:
        with self._lock:
            bar = self._bar
            if bar is None or bar.total is None:
                return
            if note:
                bar.set_postfix_str(note[-40:], refresh=False)
            bar.update(max(0, done - bar.n))

    def close(self) -> None:
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._ticker is not None:
            self._ticker.set()
            self._ticker = None
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    @staticmethod
    def _tick(bar: tqdm, stop: threading.Event) -> None:
        while not stop.wait(TICK_S):
            bar.refresh()


class AboveBars(logging.StreamHandler):  # type: ignore[type-arg]
    """A log handler that writes its line above any progress bar being drawn (tqdm.write clears the
    bar, prints the line, draws the bar again): a log line never ends up glued to a bar's line."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=self.stream)
        except Exception:  # noqa: BLE001 - logging's own contract: report, never raise
            self.handleError(record)
