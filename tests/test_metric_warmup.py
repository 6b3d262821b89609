"""The evaluation metrics are compiled once per installation, in the background, after other work."""

from __future__ import annotations

import time
from pathlib import Path

from search.application.metric_warmup import MetricWarmup, marker
from search.evaluation.metrics import compile_metrics


def test_compile_metrics_scores_the_toy_set_with_every_metric_and_test() -> None:
    compile_metrics()  # raises if a metric or a paired test cannot run on it


def test_the_warm_up_runs_after_the_background_work_once_per_installation(tmp_path: Path) -> None:
    waited: list[float] = []
    warmup = MetricWarmup(tmp_path)
    assert warmup.start_after(lambda: waited.append(time.monotonic()))
    deadline = time.monotonic() + 240
    while not marker(tmp_path).exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert marker(tmp_path).exists() and len(waited) == 1
    assert not MetricWarmup(tmp_path).start_after(lambda: None)  # compiled: a later launch skips it
