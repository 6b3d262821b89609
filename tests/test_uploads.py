"""Anonymous uploads are bounded and cleaned up (issue 21, items 9 and 10), through the real API.

Each upload is copied into a folder of its own below the uploads folder and indexed alone (it
never re-reads earlier uploads nor overwrites another caller's file of the same name), all
uploads share a quota, files the indexer could not use are not kept, and the copies Gradio keeps
of what it received are deleted once saved. Warning pop-ups show text, never markup made from it.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from gradio.utils import get_upload_folder
from gradio_client import Client, handle_file

import ui.errors
from tests.ui_harness import FAKE_MODEL, RunningApp, free_port, make_app
from ui.app import build_app, serve

pytestmark = pytest.mark.usefixtures("no_network")

COUNTS = re.compile(r"<b>(\d+)</b> files indexed, <b>(\d+)</b> unchanged, <b>(\d+)</b> skipped")


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    tmp = tmp_path_factory.mktemp("uploads")
    app = make_app(tmp, max_upload_mb=1)
    app.services.settings = replace(app.settings, max_uploads_mb=2)  # all uploads together
    demo = build_app(app)
    url = serve(demo, app, port=free_port(), block=False)
    running = RunningApp(app, demo, url, tmp, tmp)
    yield running
    running.close()


def received(name: str) -> list[Path]:
    """Gradio's own copies of an upload named ``name`` (in its temporary folder)."""
    return list(Path(get_upload_folder()).rglob(name))


def test_uploads_are_indexed_alone_and_leave_no_temporary_copies(running: RunningApp, tmp_path: Path) -> None:
    client = Client(running.url, verbose=False)
    uploads = running.app.settings.data_dir / "uploads"
    tag = uuid.uuid4().hex[:8]  # names no other test run uses in Gradio's shared temporary folder
    for i in range(5):
        upload = tmp_path / f"hive-{tag}-{i}.txt"
        upload.write_text(f"Upload {i}: honeybees and propolis in hive {i}.", encoding="utf-8")
        report = client.predict([handle_file(upload)], FAKE_MODEL, "", api_name="/index_uploads")
        indexed, unchanged, skipped = map(int, COUNTS.search(report).groups())  # type: ignore[union-attr]
        assert (indexed, unchanged, skipped) == (1, 0, 0), report  # only this upload was read
        assert received(upload.name) == []  # Gradio's copy is gone once saved
    folders = [p for p in uploads.iterdir() if p.is_dir()]
    assert len(folders) >= 5 and all(len(list(f.iterdir())) == 1 for f in folders)
    same = tmp_path / "same" / f"hive-{tag}-0.txt"  # another caller's file of the same name
    same.parent.mkdir()
    same.write_text("A different hive, same file name.", encoding="utf-8")
    client.predict([handle_file(same)], FAKE_MODEL, "", api_name="/index_uploads")
    texts = {p.read_text(encoding="utf-8") for p in uploads.rglob(same.name)}
    assert texts == {"Upload 0: honeybees and propolis in hive 0.", "A different hive, same file name."}


def test_the_quota_bounds_all_uploads_and_unusable_files_are_not_kept(
    running: RunningApp, tmp_path: Path
) -> None:
    client = Client(running.url, verbose=False)
    uploads = running.app.settings.data_dir / "uploads"
    binary = tmp_path / f"binary-{uuid.uuid4().hex[:8]}.txt"
    binary.write_bytes(bytes(range(256)) * 64)  # "binary content, not text": skipped by the indexer
    report = client.predict([handle_file(binary)], FAKE_MODEL, "", api_name="/index_uploads")
    assert "binary content" in report and not list(uploads.rglob(binary.name))  # skipped: not kept
    big = []
    for i in range(3):  # 0.9 MB each (the per-file limit is 1 MB), 2 MB for all uploads
        path = tmp_path / f"big-{i}.txt"
        path.write_text("honeybees " * 90_000, encoding="utf-8")
        big.append(path)
    answers = [client.predict([handle_file(path)], FAKE_MODEL, "", api_name="/index_uploads") for path in big]
    assert "files indexed" in answers[0] and "uploads folder is full" in answers[-1]
    assert sum(p.stat().st_size for p in uploads.rglob("*") if p.is_file()) <= 2 * 1024 * 1024


def test_warnings_show_text_not_markup(monkeypatch: pytest.MonkeyPatch) -> None:
    shown: list[str] = []
    monkeypatch.setattr(ui.errors.gr, "Warning", shown.append)
    ui.errors.warn(
        'qrels.tsv:2: unknown query id \'<img src="http://evil.example/p.png"><a href="x">y</a>\x1b\''
    )
    (text,) = shown
    assert "<img" not in text and "<a " not in text and "&lt;img" in text and "\x1b" not in text
