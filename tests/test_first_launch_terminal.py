"""What a newcomer's terminal shows on the first ``python app.py``: named steps, no library noise.

Starts the real app on an empty data folder (the converted default model is reused from the
session's cache, so the conversion itself is not timed here), waits until the sample documents
are indexed and the background backend measurement (an ONNX export: the noisiest part) has
ended, then reads everything the process printed. Third-party warnings must not be among it;
the app's own steps must. Then nonsense queries must not read as strong matches.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Lines that only third-party libraries print: Python warnings from files outside this repository,
# glog-style torch lines, Gradio's share hint, transformers' weight-loading bar.
NOISE = (
    re.compile(r"^(?!" + re.escape(str(REPO)) + r").*\.py:\d+: \w*Warning: "),
    re.compile(r"\bW\d{4} \d\d:\d\d:\d\d"),
    re.compile(r"Skipping torchvision"),
    re.compile(r"share=True"),
    re.compile(r"Loading weights"),
    re.compile(r"NumbaWarning|NumbaDeprecationWarning"),
)
PLAN_ENDED = (
    "backend plan saved",
    "measuring process ended",
    "backend plan: nothing to measure",  # a plan cached by an earlier test in the same session
)


def noise_lines(log: str) -> list[str]:
    lines = [part for line in log.splitlines() for part in line.split("\r")]
    return [line for line in lines if any(pattern.search(line) for pattern in NOISE)]


def test_noise_patterns_catch_what_the_issue_saw() -> None:
    seen = (
        "W1202 07:25:09.781000 698 torch/onnx/_internal/exporter/_registration.py:107] torchvision is not "
        "installed. Skipping torchvision::nms\n"
        "/usr/lib/python3.11/copyreg.py:105: FutureWarning: `isinstance(treespec, LeafSpec)` is deprecated\n"
        "* To create a public link, set `share=True` in `launch()`.\n"
        f"{REPO}/search/x.py:3: UserWarning: our own warning stays visible\n"
    )
    assert len(noise_lines(seen)) == 3


@pytest.mark.model
@pytest.mark.slow
@pytest.mark.timeout(1500)  # waits up to 1200 s for the launch and the background plan, then two searches
def test_first_launch_terminal_has_steps_and_no_third_party_warnings(
    bundled_model_cache: Path, tmp_path: Path
) -> None:
    from tests.ui_harness import free_port

    data = tmp_path / "data"
    log_path = tmp_path / "terminal.log"
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONWARNINGS": ""}  # as a user's shell has it
    with log_path.open("w", encoding="utf-8") as log:
        process = subprocess.Popen(
            [sys.executable, str(REPO / "app.py"), "--data-dir", str(data), "--cache-dir",
             str(bundled_model_cache), "--port", str(free_port())],
            cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 1200  # the background plan exports and times backends
            while time.monotonic() < deadline and process.poll() is None:
                text = log_path.read_text(encoding="utf-8", errors="replace")
                if "sample documents indexed" in text and any(marker in text for marker in PLAN_ENDED):
                    break
                time.sleep(1)
            else:
                pytest.fail(
                    f"no first-launch end within 1200 s:\n{log_path.read_text(encoding='utf-8')[-3000:]}"
                )
        finally:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
    text = log_path.read_text(encoding="utf-8", errors="replace")
    print(text)
    assert not noise_lines(text), noise_lines(text)
    for step in (
        "[1/3] preparing the model",
        "[2/3] indexing the sample documents",
        "51/51",
        "[3/3] building the index",
    ):
        assert step in text, step
    assert "running on http://127.0.0.1:" in text

    for nonsense in ("🙂🙂🙂", "a" * 3000):
        done = subprocess.run(
            [sys.executable, str(REPO / "app.py"), "--data-dir", str(data), "--cache-dir",
             str(bundled_model_cache), "search", nonsense, "-k", "3"],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "(strong match)" not in done.stdout and "(no clear match)" in done.stdout, done.stdout
        assert not noise_lines(done.stderr), done.stderr
