"""First launch and warm relaunch of the UI, from process start to the first answered search.

Why: a newcomer runs ``python app.py`` and waits; the target is a first launch
searchable within 30 s on two cores (the bundled model converted, the sample
documents indexed) and a relaunch within 10 s. Each launch starts ``app.py
serve`` on a free port (a fresh data dir and a fresh model cache for the first
launch, the same ones for the relaunch) and asks the search API every 0.25 s
until a search returns hits. Every line the app logs is stamped with the seconds
since the process started, so the table shows each step (server up, model
ready, sample indexed, plan measured). With ``--baseline DIR`` another checkout
(e.g. the previous release) runs the same launches in the same run, alternating.
After the first search the launch waits until its background work has ended (the
sample indexed with the second model, the backend plan measured or found), so
the relaunch is a warm one, and says when that was.

    python -m benchmarks.first_launch [--baseline ../baseline] [--runs 1]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.common import REPO, format_table
from search.application.services import default_collection
from search.models.specs import DEFAULT_MODEL

QUERY = "Warum sterben Bienenvölker im Winter?"
COLLECTION = default_collection(DEFAULT_MODEL)  # the first launch indexes the sample into it
# log lines worth a row: (label, text the line contains)
STEPS = (
    ("server answering", "is running on http"),
    ("first launch: indexing starts", "first launch: indexing"),
    ("model ready", f"first launch: {DEFAULT_MODEL} ready"),
    ("relaunch: model ready for searching", "model ready for searching"),
    ("sample indexed", f"sample documents indexed with {DEFAULT_MODEL}"),
    ("second model indexed", "sample documents indexed with use-"),
    ("plan measuring starts", "measuring which backend"),
    ("backend plan saved", "backend plan saved"),
)

# what the app logs when nothing more runs in the background (the plan saved, failed, or not needed)
LAUNCH_ENDED = ("backend plan saved", "measuring process ended", "backend plan: nothing to measure")
BACKGROUND_STARTS = ("first launch: indexing", "measuring which backend")


@dataclass
class Launch:
    label: str
    searchable: float | None = None  # seconds from process start to the first search with hits
    first_hits: int = 0
    steps: dict[str, float] = field(default_factory=dict)
    log: list[tuple[float, str]] = field(default_factory=list)
    ended: float | None = None  # seconds until the background work of the launch had ended


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def background_ended(log: list[str]) -> bool:
    """Nothing runs behind the server any more: its end logged, or no background work started
    (a relaunch of a checkout that logs nothing when its plan exists)."""
    if any(marker in line for line in log for marker in LAUNCH_ENDED):
        return True
    return not any(start in line for line in log for start in BACKGROUND_STARTS)


def launch(repo: Path, data: Path, cache: Path, label: str, wait_plan: float, timeout: float) -> Launch:
    from gradio_client import Client

    port = free_port()
    result = Launch(label)
    env = {**os.environ, "PYTHONPATH": str(repo), "PYTHONUNBUFFERED": "1"}
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, str(repo / "app.py"), "--data-dir", str(data), "--cache-dir", str(cache),
         "serve", "--port", str(port)],
        cwd=repo, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            result.log.append((time.monotonic() - started, line.rstrip()))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    url = f"http://127.0.0.1:{port}/"
    client = None
    try:
        while time.monotonic() - started < timeout:
            if process.poll() is not None:
                raise SystemExit(f"{label}: the app exited:\n" + "\n".join(t for _, t in result.log[-30:]))
            try:
                client = client or Client(url, verbose=False)
                _, _, data = client.predict(
                    QUERY, COLLECTION, [], 5, "dense", "none", "off", api_name="/search"
                )
            except Exception:  # noqa: BLE001 - not up yet
                time.sleep(0.25)
                continue
            hits = data.get("hits") if isinstance(data, dict) else None
            if hits:
                result.searchable = time.monotonic() - started
                result.first_hits = len(hits)
                break
            time.sleep(0.25)
        # the launch's own end: the sample indexed with every model, the backend plan measured (or
        # nothing to measure), so that the relaunch is a warm one, as a user's second start is
        deadline = time.monotonic() + wait_plan
        while time.monotonic() < deadline and process.poll() is None:
            if background_ended([line for _, line in result.log]):
                result.ended = time.monotonic() - started
                break
            time.sleep(0.5)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        reader.join(timeout=5)
    for name, needle in STEPS:
        when = next((t for t, line in result.log if needle in line), None)
        if when is not None:
            result.steps[name] = when
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--baseline", type=Path, help="another checkout to launch in the same run")
    parser.add_argument("--runs", type=int, default=1, help="first launch + relaunch pairs per checkout")
    parser.add_argument(
        "--wait-plan",
        type=float,
        default=1200.0,
        help="seconds to wait after the first search for the launch's background work (second model, plan)",
    )
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--show-log", action="store_true", help="print each launch's stamped log")
    args = parser.parse_args()

    repos = [("this checkout", REPO)]
    if args.baseline:
        repos.insert(0, ("baseline", args.baseline.resolve()))
    launches: list[Launch] = []
    with tempfile.TemporaryDirectory(prefix="first-launch-") as tmp:
        for run in range(args.runs):
            for name, repo in repos:
                data, cache = Path(tmp) / f"{name}-{run}" / "data", Path(tmp) / f"{name}-{run}" / "cache"
                for kind in ("first launch", "relaunch"):
                    done = launch(repo, data, cache, f"{name}: {kind}", args.wait_plan, args.timeout)
                    launches.append(done)
                    print(
                        f"{done.label}: searchable {done.searchable or float('nan'):.1f} s "
                        f"({done.first_hits} hits); background work ended at "
                        + (f"{done.ended:.1f} s" if done.ended else f"> {args.wait_plan:.0f} s (stopped)"),
                        flush=True,
                    )
                    if args.show_log:
                        for t, line in done.log:
                            print(f"  {t:6.1f}  {line[:160]}")
    names = [n for n, _ in STEPS]
    rows = [[item.label, *(item.steps.get(n) for n in names), item.searchable] for item in launches]
    print()
    print(format_table(["launch", *names, "first search answered"], rows))
    for kind, target in (("first launch", 30.0), ("relaunch", 10.0)):
        for name, _ in repos:
            times = [x.searchable for x in launches if x.label == f"{name}: {kind}" and x.searchable]
            if times:
                median = statistics.median(times)
                verdict = "met" if median <= target else "NOT met"
                print(f"{name}, {kind}: {median:.1f} s (target <= {target:.0f} s: {verdict})")
    print(f"cpu count {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
