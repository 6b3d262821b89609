"""What a browser learns about the server's file system: nothing beyond the indexed folder (issue 16,
item 7). Result cards, compare columns and index reports name files relative to the folder that was
indexed (an upload by its name); skip reasons do too, whoever wrote them (the walk or a parser)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from indexer import pipeline
from indexer.extract.formats import ExtractionError
from indexer.service import FolderIndexer
from search.application.search_app import PipelineChoice, SearchApp
from search.application.searching import make_request
from search.application.services import Services
from search.core.settings import Settings
from search.core.types import Document
from search.models.registry import ModelRegistry
from search.stores.client import ClientStore
from tests.fakes import FakeEmbedder, fake_spec
from ui.render import Column, compare_html, index_report_html, result_cards

pytestmark = pytest.mark.usefixtures("no_network")


def make_app(tmp_path: Path, root: Path) -> SearchApp:
    spec = fake_spec()
    settings = Settings(
        data_dir=tmp_path / "data",
        cache_dir=tmp_path / "cache",
        default_model=spec.name,
        allowed_roots=(root,),
        embedding_cache=False,
    )
    return SearchApp(
        Services(
            settings,
            ClientStore(":memory:"),
            ModelRegistry((spec,)),
            FakeEmbedder,
            indexer_factory=FolderIndexer,
        )
    )


def test_reports_and_results_name_files_relative_to_the_indexed_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "server-secret-location" / "shared"
    (root / "bees").mkdir(parents=True)
    (root / "bees" / "varroa.txt").write_text("Honeybees and the varroa mite in winter.", encoding="utf-8")
    (root / "broken.txt").write_text("anything", encoding="utf-8")
    os.symlink(root / "bees" / "varroa.txt", root / "z-same.txt")  # reason names the first path
    os.symlink(root / "bees", root / "bees" / "loop")  # reason names the folder looped to
    real_load = pipeline.load_parts

    def load(path: Path, *args: object, **kwargs: object) -> Iterator[Document]:
        if path.name == "broken.txt":  # parsers put the absolute path in their messages
            raise ExtractionError(f"txt extraction failed: OSError: cannot read {Path(path).resolve()}")
        yield from real_load(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline, "load_parts", load)
    app = make_app(tmp_path, root)
    try:
        report = app.index_allowed_folder(str(root))
        reasons = {s.path: s.reason for s in report.skipped}
        assert reasons == {
            "bees/loop": "symlink loop: points back to bees",
            "broken.txt": "txt extraction failed: OSError: cannot read broken.txt",
            "z-same.txt": "same file as bees/varroa.txt (symlink), indexed once",
        }
        request = make_request("varroa mite", app.collection_for(None), (), 5, "dense", None, "off")
        outcome = app.search(request)
        cards = result_cards(outcome.result.hits, outcome.highlights)
        side = app.compare("varroa mite", 5, [PipelineChoice(app.collection_for(None))])[0]
        assert side.outcome is not None
        compared = compare_html([Column("dense", tuple(side.outcome.result.hits))], 5)
        for markup in (index_report_html(report), cards, compared):
            assert "server-secret-location" not in markup and str(tmp_path) not in markup
        assert "bees/varroa.txt" in cards
    finally:
        app.close()


def test_uploads_are_named_by_their_upload_name(tmp_path: Path) -> None:
    incoming = tmp_path / "gradio-tmp" / "a1b2"
    incoming.mkdir(parents=True)
    (incoming / "notes.txt").write_text("Honeybees and the varroa mite.", encoding="utf-8")
    app = make_app(tmp_path, tmp_path)
    try:
        saved, report = app.index_uploads([incoming / "notes.txt"], tmp_path / "data" / "uploads")
        assert saved.saved == ("notes.txt",) and report is not None
        outcome = app.search(make_request("varroa", app.collection_for(None), (), 5, "dense", None, "off"))
        markup = index_report_html(report) + result_cards(outcome.result.hits, outcome.highlights)
        assert "notes.txt" in markup and str(tmp_path) not in markup
    finally:
        app.close()
