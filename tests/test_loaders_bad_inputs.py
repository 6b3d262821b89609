"""The walk and the loaders over a folder of hostile files: every one reported with its reason, memory bounded."""

from __future__ import annotations

import builtins
import os
import tracemalloc
from pathlib import Path

import pytest

from indexer import walk
from indexer.extract.loaders import ExtractionError, LoaderConfig, discover, load_document
from search.core.types import Document
from tests.bad_inputs import HUGE_BYTES, LOADS, make_bad_corpus

pytestmark = pytest.mark.usefixtures("no_network")

MB = 1024 * 1024
PEAK_LIMIT = 30 * MB  # well under the 50 MB file and the 30 MB zip bombs: neither may be read


def _simulate_unreadable(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Root ignores chmod 000; make opening the file fail the way it would for anyone else."""
    real_open = builtins.open

    def guarded(file, *args, **kwargs):  # type: ignore[no-untyped-def]
        if os.fspath(file).endswith(name):
            raise PermissionError(13, "Permission denied", os.fspath(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(walk, "open", guarded, raising=False)


def _warm_up() -> None:
    """Load what every process loads once before measuring: unstructured's import and langdetect's
    profiles (~60 MB of n-gram tables) dwarf anything a single file may cost."""
    from indexer.extract.pdf import _pymupdf
    from indexer.extract.unstructured_offline import blank_nlp, partitioner
    from search.text.language import detect_language

    _pymupdf()
    blank_nlp()
    detect_language("Profiles are loaded on the first call of the process.")
    for kind in ("text", "html", "md", "docx", "pptx"):
        partitioner(kind)


def test_every_bad_file_is_reported_and_every_good_file_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "corpus"
    expected = make_bad_corpus(root)
    if os.geteuid() == 0:
        _simulate_unreadable(monkeypatch, "unreadable.txt")
    _warm_up()
    config = LoaderConfig()

    tracemalloc.start()
    try:
        found = discover(root, config)
        outcomes: dict[str, str] = {s.path.relative_to(root).as_posix(): s.reason for s in found.skipped}
        documents: dict[str, Document] = {}
        for entry in found.files:
            name = entry.path.relative_to(root).as_posix()
            try:
                documents[name] = load_document(entry.path, root, config)
                outcomes[name] = LOADS
            except ExtractionError as exc:
                outcomes[name] = str(exc)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert set(outcomes) == set(expected), "discovered files differ from the corpus"
    wrong = {
        name: (keyword or "<loads>", outcomes[name] or "<loaded>")
        for name, keyword in expected.items()
        if (keyword == LOADS and outcomes[name] != LOADS)
        or (keyword != LOADS and keyword not in outcomes[name])
    }
    assert not wrong, wrong
    for reason in outcomes.values():
        assert "\n" not in reason and len(reason) < 240
    assert found.unsupported == 1  # notes.rtf; hidden files are not even counted (images are read by OCR)
    assert peak < PEAK_LIMIT, f"peak traced memory {peak / MB:.1f} MB"

    assert "\x00" not in documents["nul-bytes.txt"].text
    assert (
        "\ufffd" in documents["invalid-utf8.txt"].text
        and "Grüße aus Köln" in documents["invalid-utf8.txt"].text
    )
    for name, document in documents.items():
        assert document.relpath == name
        assert document.text.strip()


def test_oversized_file_is_refused_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "huge.txt"
    with open(path, "wb") as handle:
        handle.truncate(HUGE_BYTES)
    tracemalloc.start()
    try:
        with pytest.raises(ExtractionError, match="too large: 50.0 MB"):
            load_document(path, tmp_path, LoaderConfig())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 * MB
