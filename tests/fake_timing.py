"""Mocked timing for the backend planner on real (tiny) models: the vectors are real, the clock is not.

``fake_timing`` wraps every candidate the planner builds so each call advances a
fake clock by that backend's configured cost; the planner's choice is then known
in advance, whatever the machine running the tests.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pytest

from search.models.cpu import CpuInfo, CpuSample
from search.models.encoders import planning
from search.models.planner import Plan, Probe


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class QuietLoad:
    """No other process on the machine (or the given foreign loads, one per timed candidate)."""

    def __init__(self, loads: Sequence[float] = ()) -> None:
        self.loads = list(loads)

    def sample(self) -> CpuSample | None:
        return CpuSample(0.0, 0.0, 0.0)

    def foreign(self, start: CpuSample | None, end: CpuSample | None) -> float | None:
        return self.loads.pop(0) if self.loads else 0.0


class Timed:
    """A real candidate whose every call costs a fixed fake time."""

    def __init__(self, inner: Any, clock: Clock, docs_s: float, query_s: float) -> None:
        self.inner, self.clock, self.docs_s, self.query_s = inner, clock, docs_s, query_s

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        self.clock.now += self.docs_s
        return np.asarray(self.inner.encode_documents(texts))

    def encode_queries(self, texts: Sequence[str], task: str | None = None) -> np.ndarray:
        self.clock.now += self.query_s * len(texts)
        return np.asarray(self.inner.encode_queries(texts, task))


def fake_timing(
    monkeypatch: pytest.MonkeyPatch, docs: Mapping[str, float], queries: Mapping[str, float]
) -> list[Plan]:
    """Patch the planner used by ``--backend auto``; returns the plans it makes, in order."""
    real = planning.measure
    made: list[Plan] = []

    def measure(builders: Mapping[str, Callable[[], Any]], probe: Probe, **options: Any) -> Any:
        clock = Clock()

        def wrap(name: str, build: Callable[[], Any]) -> Callable[[], Timed]:
            return lambda: Timed(build(), clock, docs.get(name, 1.0), queries.get(name, 0.01))

        result = real(
            {name: wrap(name, build) for name, build in builders.items()},
            probe,
            **{**options, "clock": clock, "load": QuietLoad()},
        )
        made.append(result)
        return result

    monkeypatch.setattr(planning, "measure", measure)
    return made


def native_bf16_cpu(monkeypatch: pytest.MonkeyPatch, native: bool = True) -> CpuInfo:
    """Pretend the CPU does (or does not) run bf16 natively; torch's own check agrees."""
    flags = {"avx2", "avx512f", "avx512_bf16", "amx_bf16"} if native else {"avx2"}
    cpu = CpuInfo("x86_64", "Test CPU", frozenset(flags), 2)
    monkeypatch.setattr(planning, "cpu_info", lambda: cpu)
    monkeypatch.setattr(planning, "torch_bf16_supported", lambda: True)
    return cpu
