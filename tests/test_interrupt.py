"""Ctrl-C at the command line: one line, exit 130, the report of what was completed (issue 16, item 4).

The CLI runs in a child process (tests.fake_cli: app.py's main with a slowed fake
model) that gets a real SIGINT mid-run. Files the interrupted run reports as
indexed must be complete in the store (the next run finds them unchanged), and the
next run must finish the rest.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import app

pytestmark = pytest.mark.usefixtures("no_network")

REPO = Path(__file__).resolve().parents[1]
QUERYSET = REPO / "sample_corpora" / "queryset"


FILES = 120


def corpus(folder: Path) -> Path:
    """About 1,300 chunks of the fake model (64 tokens): some 20 batches, 8 s at the slowed speed."""
    folder.mkdir()
    for i in range(FILES):
        sentence = f"Honeybees visit flower number {i} and carry pollen home to the hive. "
        (folder / f"f{i:03d}.txt").write_text(sentence * (25 + 5 * (i % 9)), encoding="utf-8")
    return folder


def start(tmp_path: Path, *args: str, delay: float = 0.4) -> subprocess.Popen[str]:
    common = ["--data-dir", str(tmp_path / "data"), "--cache-dir", str(tmp_path / "cache")]
    return subprocess.Popen(
        [sys.executable, "-m", "tests.fake_cli", "--embed-delay", str(delay), *common, *args],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def interrupt_once_written(proc: subprocess.Popen[str]) -> tuple[str, str]:
    """SIGINT as soon as the progress bar (stderr) shows chunks written; returns stdout and stderr."""
    assert proc.stderr is not None
    shown = ""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        block = os.read(proc.stderr.fileno(), 4096).decode(errors="replace")
        if not block:
            break
        shown += block
        if any(int(n) > 0 for n in re.findall(r"(\d+) chunks", shown)):
            break
    assert proc.poll() is None, "the run finished before it could be interrupted; slow it down"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    return out, shown + err


def index_json(tmp_path: Path, folder: Path) -> dict[str, Any]:
    proc = start(tmp_path, "index", str(folder), "--json", delay=0.0)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-2000:]
    return json.loads(out)  # type: ignore[no-any-return]


def test_ctrl_c_during_index_reports_what_was_completed_and_exits_130(tmp_path: Path) -> None:
    folder = corpus(tmp_path / "docs")
    proc = start(tmp_path, "index", str(folder))
    out, err = interrupt_once_written(proc)
    assert proc.returncode == app.EXIT_INTERRUPTED == 130
    assert "Traceback" not in err
    last = err.replace("\r", "\n").strip().splitlines()[-1]
    assert last.startswith("interrupted: ") and "run the same command again" in last
    assert out.splitlines()[0].endswith("(cancelled)")  # the report of what was done
    completed = int(re.search(r"(\d+) indexed", out).group(1))  # type: ignore[union-attr]
    written = int(re.search(r"new chunks: (\d+)", out).group(1))  # type: ignore[union-attr]
    assert written > 0 and completed < FILES

    again = index_json(tmp_path, folder)  # the store stayed consistent: the rest is finished
    assert again["cancelled"] is False and again["skipped"] == []
    assert again["unchanged"] >= completed  # what the interrupted run called complete was
    assert again["unchanged"] + len(again["indexed"]) == FILES
    third = index_json(tmp_path, folder)
    assert third["unchanged"] == FILES and third["chunks_written"] == 0


def test_ctrl_c_during_eval_is_one_line_and_exit_130(tmp_path: Path) -> None:
    proc = start(tmp_path, "eval", "--queries", str(QUERYSET), delay=1.0)
    time.sleep(0.5)
    deadline = time.monotonic() + 60
    while proc.stderr is not None and time.monotonic() < deadline:  # wait for the progress bar
        shown = os.read(proc.stderr.fileno(), 4096).decode(errors="replace").lower()
        if not shown or "index" in shown:
            break
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert err.replace("\r", "\n").strip().splitlines()[-1] == "interrupted"
    assert out == ""
