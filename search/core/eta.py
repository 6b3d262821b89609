"""Time left in an index run, from a smoothed rate of work (bytes embedded per second).

A rate measured between two progress events swings with every batch (a file of short chunks,
then one of long ones, a pause while a PDF is parsed): the ETA printed from it swung between
3 s and 4 min on a real folder. Here the rate is an exponential moving average with a time
constant of half a minute, over the work that went through the model only (unchanged files
settle in an instant and would make the run look fast), and no estimate is given until the
run has measured a few seconds of it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from search.core.reports import IndexProgress

TAU_S = 30.0  # time constant of the rate's moving average
WARM_UP_S = 3.0  # no estimate before this much time measured with work done
MIN_SAMPLE_S = 0.5  # samples closer together than this are merged


class EtaMeter:
    """Feed it every progress event; ``seconds_left`` is None until the rate is known.

    The rate is work over time, both summed with weights that decay by exp(-age / tau): at the
    start it is the plain average since the first work, later the last minute or so counts most.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic, tau_s: float = TAU_S) -> None:
        self._clock = clock
        self._tau = tau_s
        self._started: float | None = None  # time of the first event with model work done
        self._last_t = 0.0
        self._last_work = 0
        self._work = 0.0  # decayed sums
        self._time = 0.0
        self._left: float | None = None

    def update(self, event: IndexProgress) -> float | None:
        now = self._clock()
        work = event.work_done - event.work_settled  # what the model did
        remaining = max(0, event.work_total - event.work_done)
        if self._started is None:
            if work <= 0:
                return None
            # The first work arrived with this event: how long it took is not known, so it is not a sample.
            self._started, self._last_t, self._last_work = now, now, work
            return None
        dt = now - self._last_t
        if dt >= MIN_SAMPLE_S:
            decay = math.exp(-dt / self._tau)
            self._work = self._work * decay + (work - self._last_work)
            self._time = self._time * decay + dt
            self._last_t, self._last_work = now, work
        if self._work <= 0 or now - self._started < WARM_UP_S:
            return None
        self._left = remaining * self._time / self._work
        return self._left

    @property
    def seconds_left(self) -> float | None:
        return self._left


def duration_text(seconds: float) -> str:
    """'about 40 s', 'about 12 min', 'about 1.5 h': rounded so the figure does not flicker."""
    if seconds < 60:
        return f"about {max(5, round(seconds / 5.0) * 5)} s"
    if seconds < 3600:
        return f"about {round(seconds / 60.0)} min"
    return f"about {seconds / 3600.0:.1f} h"


def eta_text(seconds: float | None) -> str:
    """'about 4 min left', or '' when not known yet."""
    return "" if seconds is None else duration_text(seconds) + " left"
