"""Progress that moves with the work (issue 25): a folder dominated by one large PDF moves batch by
batch, not only once the PDF is done, and the time left comes from a smoothed rate that holds.

The CLI runs in a child process (tests.fake_cli: app.py's main with a fake model slowed per batch),
as a user runs it; the progress bar is read from its stderr.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pymupdf
import pytest

from search.core.eta import EtaMeter, eta_text
from search.core.reports import IndexProgress
from search.space.vector_space import VectorSpace

pytestmark = pytest.mark.usefixtures("no_network")

REPO = Path(__file__).resolve().parents[1]
PAGES = 40


def large_pdf(path: Path) -> Path:
    """A PDF of PAGES pages of distinct sentences: some 400 chunks of the fake model's 64 tokens."""
    doc = pymupdf.open()
    for page_no in range(PAGES):
        page = doc.new_page()
        text = "\n".join(
            f"Page {page_no} line {line}: honeybees visit flower {page_no * 100 + line} and carry pollen."
            for line in range(45)
        )
        page.insert_textbox(pymupdf.Rect(36, 36, 576, 806), text, fontsize=8)
    doc.save(path)
    doc.close()
    return path


def test_cli_progress_moves_before_the_one_large_file_is_done(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    large_pdf(folder / "manual.pdf")
    (folder / "note.txt").write_text("A short note about bees and flowers.", encoding="utf-8")
    common = ["--data-dir", str(tmp_path / "data"), "--cache-dir", str(tmp_path / "cache")]
    proc = subprocess.run(
        [sys.executable, "-m", "tests.fake_cli", "--embed-delay", "0.5", *common, "index", str(folder)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    frames = [line.strip() for line in re.split(r"[\r\n]", proc.stderr) if "files" in line]
    shown = [
        (int(m.group(1)), int(m.group(2)), int(m.group(3)))
        for frame in frames
        if (m := re.search(r"(\d+)%\|.*?\| indexing: (\d+)/(\d+) files", frame))
    ]
    # While the PDF is not done (files short of the total) the bar passes through several percentages.
    before_done = sorted({percent for percent, done, total in shown if done < total and 0 < percent < 100})
    assert len(before_done) >= 3, frames[-20:]
    assert all(total == 2 for _, _, total in shown) and "2 indexed" in proc.stdout
    assert any("left" in frame for frame in frames)  # the time left is shown once the rate is known


def _event(done: int, total: int, settled: int = 0) -> IndexProgress:
    return IndexProgress(0, 1, 0, "", work_done=done, work_total=total, work_settled=settled)


def test_eta_holds_through_uneven_batches() -> None:
    """Batches of very different sizes at a steady mean rate (100 units/s): once warm, the estimate
    stays within 25 % of the true time left, where the rate between two events swings 10x."""
    now = [0.0]
    meter = EtaMeter(clock=lambda: now[0])
    total, done = 60_000, 0
    errors = []
    for step in range(400):
        now[0] += 1.0
        done += 20 if step % 2 else 180  # 100 a second on average
        left = meter.update(_event(done, total))
        if step > 10 and done < total:
            true_left = (total - done) / 100.0
            assert left is not None
            errors.append(abs(left - true_left) / max(true_left, 30.0))
        if done >= total:
            break
    assert max(errors) < 0.25


def test_eta_ignores_files_settled_without_the_model() -> None:
    """Unchanged files skipped in an instant do not make the run look fast."""
    now = [0.0]
    meter = EtaMeter(clock=lambda: now[0])
    meter.update(_event(50_000, 100_000, settled=50_000))  # half the folder unchanged
    done = 50_000
    left = None
    for _ in range(20):
        now[0] += 1.0
        done += 100
        left = meter.update(_event(done, 100_000, settled=50_000))
    assert left is not None and abs(left - (100_000 - done) / 100.0) < 50


def test_eta_text_is_rounded_and_empty_when_unknown() -> None:
    assert eta_text(None) == ""
    assert eta_text(12) == "about 10 s left"
    assert eta_text(250) == "about 4 min left"
    assert eta_text(7200) == "about 2.0 h left"


def test_work_moves_with_every_batch_and_ends_at_the_total(tmp_path: Path) -> None:
    """In the engine: the work done never goes back, moves while the large file's files_done is 0,
    reaches the total, and a re-run (everything unchanged) counts as settled, not as model work."""
    from indexer.pipeline import IndexConfig, index_folder
    from search.stores.client import ClientStore
    from tests.fakes import FakeEmbedder

    folder = tmp_path / "docs"
    folder.mkdir()
    large_pdf(folder / "manual.pdf")
    store = ClientStore(":memory:")
    seen: list[IndexProgress] = []
    config = IndexConfig(chunk_tokens=64, overlap_tokens=8, batch_size=16, optimize=False)
    index_folder(folder, VectorSpace(FakeEmbedder()), store, "docs", config=config, progress=seen.append)
    work = [event.work_done for event in seen]
    assert work == sorted(work) and work[-1] == seen[-1].work_total > 0
    moving = {event.work_done for event in seen if event.files_done == 0 and event.work_done > 0}
    assert len(moving) >= 5
    seen.clear()
    index_folder(folder, VectorSpace(FakeEmbedder()), store, "docs", config=config, progress=seen.append)
    assert seen[-1].work_done == seen[-1].work_settled == seen[-1].work_total
    store.close()


def test_a_log_line_is_never_glued_to_a_progress_bar() -> None:
    """A log record written while a bar is drawn gets a line of its own (the bar is drawn again below)."""
    import io
    import logging

    from tqdm import tqdm

    from search.application.terminal_progress import AboveBars

    stream = io.StringIO()
    logger = logging.getLogger("tests.glued")
    handler = AboveBars(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.propagate = False
    try:
        with tqdm(total=10, file=stream, desc="indexing", mininterval=0) as bar:
            bar.update(3)
            logger.warning("backend plan: torch-bf16 for passages")
            bar.update(3)
    finally:
        logger.removeHandler(handler)
    pieces = re.split(r"[\r\n]", stream.getvalue())
    assert "backend plan: torch-bf16 for passages" in pieces  # alone on its line, not after the bar
