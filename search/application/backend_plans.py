"""Which backend runs a model on this machine: the report ``app.py doctor`` prints, and the UI's background plan.

Why a separate process for the UI: measuring loads every candidate (fp32, bf16,
an ONNX session) and times them; in a process of its own that memory is given
back when it ends, its priority can be lowered below the UI's searches, and the
UI's own CPU use shows up in its foreign-load accounting instead of silently
slowing its timings. The plan it saves is used from the next start.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from search.application.services import Services
from search.core.environment import PROJECT_ROOT, apply_network_policy, child_environment, prepare_process
from search.core.reports import BackendReport
from search.models.cpu import cpu_info
from search.models.encoders.planning import plan_missing
from search.models.loading import load_embedder
from search.models.planner import log as plan_log
from search.models.planner import plan_path

log = logging.getLogger("ui")
BACKGROUND_NICE = 10


def backend_report(services: Services, model: str | None = None) -> BackendReport:
    """Load the model as this process would (measuring now if the settings say so) and say how it runs."""
    embedder = services.embedder(model)
    documents, queries = getattr(embedder, "backends", ("torch", "torch"))
    plan = getattr(embedder, "plan", None)
    plan_file = None
    if plan is not None and plan.measured:
        plan_file = str(
            plan_path(services.settings.cache_dir, str(plan.key_parts.get("model", "")), plan.key)
        )
    return BackendReport(
        model=embedder.spec.name,
        requested=services.settings.backend,
        documents=documents,
        queries=queries,
        device=str(getattr(embedder, "device", "cpu")),
        cpu=cpu_info().describe(),
        measured=bool(plan is not None and plan.measured),
        plan=tuple(plan.describe()) if plan is not None else (),
        plan_file=plan_file,
    )


def plan_pending(services: Services, model: str | None = None) -> bool:
    """True when the settings ask for a background plan and "auto" runs this model on the provisional
    choice (no plan measured on this machine yet). Checked from the files, without loading the model.
    """
    if services.settings.backend != "auto" or services.settings.backend_planning != "background":
        return False
    settings = services.settings
    return plan_missing(
        services.spec(model),
        cache_dir=settings.cache_dir,
        device=settings.device,
        allow_downloads=settings.allow_downloads,
    )


class BackgroundPlan:
    """Measure a model's plan in a niced child process; its figures go to the UI's log."""

    def __init__(self, services: Services, model: str | None = None) -> None:
        self._services = services
        self._model = model
        self._process: subprocess.Popen[str] | None = None
        self._thread: threading.Thread | None = None

    def command(self) -> list[str]:
        spec = self._services.spec(self._model)
        name = spec.source if Path(spec.source).is_dir() else spec.name
        return [
            sys.executable,
            "-m",
            "search.application.backend_plans",
            "--model",
            name,
            "--cache-dir",
            str(self._services.settings.cache_dir),
            "--nice",
            str(BACKGROUND_NICE),
        ]

    def start(self) -> bool:
        """Start when the model runs on a provisional choice; False when there is nothing to measure."""
        if self._process is not None or not plan_pending(self._services, self._model):
            return False
        env = child_environment()
        log.info(
            "measuring which backend runs %s fastest on this machine (background, once)",
            self._model or "the default model",
        )
        self._process = subprocess.Popen(
            self.command(),
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._thread = threading.Thread(target=self._forward, name="backend-plan-log", daemon=True)
        self._thread.start()
        return True

    def _forward(self) -> None:
        process = self._process
        assert process is not None and process.stderr is not None
        for line in process.stderr:
            if line.strip() and "Loading weights" not in line:
                log.info("backend plan: %s", line.rstrip())
        code = process.wait()
        if code == 0:
            log.info("backend plan saved; it is used from the next start")
        else:
            log.warning("backend plan: the measuring process ended with code %s", code)

    def wait(self, timeout: float | None = None) -> int | None:
        if self._process is None:
            return None
        try:
            return self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self) -> None:
        """End the child (server shutdown): a half-done plan is simply not saved."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()


def measure_plan(argv: Sequence[str] | None = None) -> int:
    """Measure a model's plan in a process of its own (the UI runs this in the background, niced)."""
    parser = argparse.ArgumentParser(description=measure_plan.__doc__)
    parser.add_argument("--model", required=True, help="registry name or local folder")
    parser.add_argument("--cache-dir", type=Path, required=True)
    parser.add_argument("--nice", type=int, default=0, help="lower this process's priority by this much")
    args = parser.parse_args(argv)
    prepare_process()
    apply_network_policy(False)
    if args.nice and hasattr(os, "nice"):
        os.nice(args.nice)
    logging.basicConfig(level=logging.WARNING, format="%(message)s", stream=sys.stderr)
    plan_log.setLevel(logging.INFO)
    load_embedder(args.model, cache_dir=args.cache_dir, backend="auto", planning="now")
    return 0


if __name__ == "__main__":
    sys.exit(measure_plan())
