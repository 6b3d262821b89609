"""Symlinks inside an allowed root never bring outside text into the index (issue 16, item 1).

Through both front doors: the UI's folder indexing (SearchApp.index_allowed_folder,
what the Index tab calls) and the command line (app.py's main in a child process).
The outside text must neither be indexed nor come back through search, and the
skip must be reported without naming the link's target.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from indexer.service import FolderIndexer
from indexer.walk import OUTSIDE_ROOT
from search.application.search_app import SearchApp
from search.application.searching import make_request
from search.application.services import Services
from search.core.settings import Settings
from search.models.registry import ModelRegistry
from search.stores.client import ClientStore
from tests.fakes import FakeEmbedder, fake_spec

pytestmark = pytest.mark.usefixtures("no_network")

REPO = Path(__file__).resolve().parents[1]
SECRET = "zanzibarpassword"


def hostile_root(tmp_path: Path) -> tuple[Path, Path]:
    """An allowed root holding ordinary files and links to a private folder and file next to it."""
    root, private = tmp_path / "allowed", tmp_path / "private"
    (private / "deep").mkdir(parents=True)
    (private / "passwd.txt").write_text(f"root:x:0:0 {SECRET} shadow entry", encoding="utf-8")
    (private / "deep" / "diary.md").write_text(f"My diary: {SECRET} again.", encoding="utf-8")
    (root / "docs").mkdir(parents=True)
    (root / "docs" / "bees.txt").write_text("Honeybees and the varroa mite in winter.", encoding="utf-8")
    os.symlink(private / "passwd.txt", root / "passwd.txt")
    os.symlink(private / "deep", root / "docs" / "linked")
    os.symlink("../docs/bees.txt", root / "docs" / "same-bees.txt")  # inside: indexed once
    return root, private


def test_ui_folder_indexing_never_follows_a_link_out_of_the_root(tmp_path: Path) -> None:
    root, _ = hostile_root(tmp_path)
    spec = fake_spec()
    settings = Settings(
        data_dir=tmp_path / "data",
        cache_dir=tmp_path / "cache",
        default_model=spec.name,
        allowed_roots=(root,),
        embedding_cache=False,
    )
    app = SearchApp(
        Services(
            settings,
            ClientStore(":memory:"),
            ModelRegistry((spec,)),
            FakeEmbedder,
            indexer_factory=FolderIndexer,
        )
    )
    try:
        report = app.index_allowed_folder(str(root))
        assert report.indexed == ("docs/bees.txt",)
        reasons = {s.path: s.reason for s in report.skipped}
        assert reasons["passwd.txt"] == OUTSIDE_ROOT and reasons["docs/linked"] == OUTSIDE_ROOT
        assert reasons["docs/same-bees.txt"].startswith("same file as")
        collection = app.collection_for(None)
        for query in (SECRET, "shadow entry", "diary"):
            hits = app.search(make_request(query, collection, (), 10, "dense", None, "off")).result.hits
            assert hits and all(SECRET not in hit.text for hit in hits), query
            assert {hit.relpath for hit in hits} == {"docs/bees.txt"}
    finally:
        app.close()


def test_cli_index_never_follows_a_link_out_of_the_folder(tmp_path: Path) -> None:
    root, private = hostile_root(tmp_path)
    common = ["--data-dir", str(tmp_path / "data"), "--cache-dir", str(tmp_path / "cache")]

    def run(*args: str) -> dict[str, object]:
        result = subprocess.run(
            [sys.executable, "-m", "tests.fake_cli", *common, *args],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        return json.loads(result.stdout)  # type: ignore[no-any-return]

    report = run("index", str(root), "--json")
    assert report["indexed"] == ["docs/bees.txt"]
    skipped = {s["path"]: s["reason"] for s in report["skipped"]}  # type: ignore[attr-defined]
    assert skipped["passwd.txt"] == OUTSIDE_ROOT and skipped["docs/linked"] == OUTSIDE_ROOT
    assert str(private) not in json.dumps(report)
    hits = run("search", SECRET, "--json", "-k", "10")["hits"]
    assert [hit["source"] for hit in hits] == ["docs/bees.txt"]  # type: ignore[attr-defined]
