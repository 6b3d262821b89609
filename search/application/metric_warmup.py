"""Compile the evaluation metrics once per installation, in the background, after the first launch.

Why: ranx's metrics are numba functions compiled on first use and cached on disk; without this the
first evaluation a user runs waits for the compilation (28 s on the project's two-core machine, 2.6 s
in every later process). The app compiles them in a niced child process once the first launch's other
background work (the backend plan, which times the model and must not share the CPU) has finished,
and leaves a marker in the cache folder so later launches skip it.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

log = logging.getLogger(__name__)

WARMUP_NICE = 15


def marker(cache_dir: Path) -> Path:
    """Present once this installation's ranx has been compiled (named for ranx's and numba's versions)."""
    return cache_dir / f"metrics-compiled-ranx-{version('ranx')}-numba-{version('numba')}"


class MetricWarmup:
    """One niced child that compiles the metrics, started after ``wait_for`` returns."""

    def __init__(self, cache_dir: Path) -> None:
        self._cache_dir = cache_dir
        self._process: subprocess.Popen[bytes] | None = None
        self._stopped = threading.Event()

    def start_after(self, wait_for: Callable[[], object]) -> bool:
        """Start in a thread; False when this installation has compiled them already."""
        if marker(self._cache_dir).exists():
            return False
        threading.Thread(target=self._run, args=(wait_for,), name="metric-warm-up", daemon=True).start()
        return True

    def _run(self, wait_for: Callable[[], object]) -> None:
        wait_for()
        if self._stopped.is_set():
            return
        project = Path(__file__).resolve().parents[2]
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(p for p in (str(project), os.environ.get("PYTHONPATH")) if p),
        }
        self._process = subprocess.Popen(
            [sys.executable, "-m", "search.application.metric_warmup"],
            cwd=project,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=(lambda: os.nice(WARMUP_NICE)) if hasattr(os, "nice") else None,
        )
        if self._process.wait() == 0:
            try:
                self._cache_dir.mkdir(parents=True, exist_ok=True)
                marker(self._cache_dir).touch()
            except OSError as exc:  # a read-only cache: it compiles again next launch, no harm
                log.debug("could not write the metrics marker: %s", exc)
            log.info("evaluation metrics compiled (once per installation)")

    def stop(self) -> None:
        self._stopped.set()
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()


if __name__ == "__main__":
    from search.core.environment import prepare_process
    from search.evaluation.metrics import compile_metrics

    prepare_process()
    compile_metrics()
