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
from collections.abc import Callable, Sequence
from importlib.metadata import version
from pathlib import Path

from search.core.environment import PROJECT_ROOT, child_environment, prepare_process

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
        self._lock = threading.Lock()  # stop() and the start of the child never interleave
        self._stopped = False

    def start_after(self, wait_for: Callable[[], object]) -> bool:
        """Start in a thread; False when this installation has compiled them already."""
        if marker(self._cache_dir).exists():
            return False
        threading.Thread(target=self._run, args=(wait_for,), name="metric-warm-up", daemon=True).start()
        return True

    def _run(self, wait_for: Callable[[], object]) -> None:
        wait_for()
        with self._lock:
            if self._stopped:
                return
            # No preexec_fn in a threaded server: the child lowers its own priority and writes the marker.
            self._process = subprocess.Popen(
                [sys.executable, "-m", "search.application.metric_warmup", str(self._cache_dir)],
                cwd=PROJECT_ROOT,
                env=child_environment(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        _, err = self._process.communicate()
        if self._process.returncode == 0:
            log.info("evaluation metrics compiled (once per installation)")
        elif not self._stopped:
            tail = err.decode(errors="replace").strip().splitlines()[-1:] or ["no message"]
            log.warning("compiling the evaluation metrics failed (the first evaluation does it): %s", tail[0])

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            if self._process is not None and self._process.poll() is None:
                self._process.terminate()


def main(argv: Sequence[str]) -> int:
    """The child: nice itself, compile, leave the marker in the cache folder given."""
    from search.evaluation.metrics import compile_metrics

    if hasattr(os, "nice"):
        os.nice(WARMUP_NICE)
    prepare_process()
    compile_metrics()
    cache_dir = Path(argv[0])
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        marker(cache_dir).touch()
    except OSError:  # a read-only cache: compiled again next launch, no harm
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
