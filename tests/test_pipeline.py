"""index_folder end to end on both stores: incremental, idempotent, consistent with the folder.

The FakeEmbedder makes every run deterministic and quick; what is checked is the
pipeline's bookkeeping (which files are re-read, which chunks are replaced or
removed) and what each stored chunk carries.
"""

from __future__ import annotations

import builtins
import os
import shutil
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from indexer import walk
from indexer.chunking import chunk_id
from indexer.opened import OpenedFile
from indexer.pipeline import IndexConfig, index_folder
from search.core.errors import ModelMismatchError, StoreError
from search.core.reports import IndexReport
from search.retrieval.searcher import Searcher
from search.space.vector_space import VectorSpace
from search.stores.base import VectorStore
from search.stores.client import ClientStore
from search.stores.edge import EdgeStore
from tests.bad_inputs import good_paragraphs, make_good_corpus
from tests.fakes import FakeEmbedder, fake_spec

pytestmark = pytest.mark.usefixtures("no_network")

NAME = "docs"
CONFIG = IndexConfig(chunk_tokens=64, overlap_tokens=8, batch_size=8)
FIELDS = (
    "source",
    "root",
    "page",
    "language",
    "doc_language",
    "doc_hash",
    "n_chunks",
    "position",
    "format",
    "text",
)


@pytest.fixture(params=["edge", "client"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VectorStore]:
    backend: VectorStore = (
        EdgeStore(tmp_path / "index") if request.param == "edge" else ClientStore(":memory:")
    )
    yield backend
    backend.close()


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    folder = tmp_path / "corpus"
    make_good_corpus(folder)
    return folder


def run(
    folder: Path, store: VectorStore, embedder: FakeEmbedder | None = None, **changes: object
) -> IndexReport:
    config = IndexConfig(**{**CONFIG.__dict__, **changes}) if changes else CONFIG
    return index_folder(folder, VectorSpace(embedder or FakeEmbedder()), store, NAME, config=config)


def points(store: VectorStore) -> dict[str, dict[str, object]]:
    """id -> payload of every stored chunk."""
    return dict(store.iter_payloads(NAME, FIELDS))


def by_source(store: VectorStore, root: Path) -> dict[str, set[str]]:
    """relative path -> ids of its chunks."""
    out: dict[str, set[str]] = {}
    for pid, payload in points(store).items():
        out.setdefault(os.path.relpath(str(payload["source"]), root), set()).add(pid)
    return out


def assert_consistent(store: VectorStore, root: Path) -> None:
    """Every source holds exactly one complete version: n_chunks points, positions 0..n-1, one hash."""
    groups: dict[str, list[dict[str, object]]] = {}
    for payload in points(store).values():
        groups.setdefault(str(payload["source"]), []).append(payload)
    for source, payloads in groups.items():
        assert Path(source).is_file(), f"chunks of a file that is not in the folder: {source}"
        assert len({p["doc_hash"] for p in payloads}) == 1, source
        n = int(payloads[0]["n_chunks"])  # type: ignore[call-overload]
        assert sorted(int(p["position"]) for p in payloads) == list(range(n)), source  # type: ignore[call-overload]


# ---- idempotence and determinism ------------------------------------------------------------------


def test_first_run_indexes_everything_and_a_rerun_writes_nothing(corpus: Path, store: VectorStore) -> None:
    first = run(corpus, store)
    assert sorted(first.indexed) == sorted(make_good_corpus(corpus.parent / "again"))
    assert not first.skipped and not first.removed and first.unchanged == 0
    assert first.chunks_written == store.count(NAME) > len(first.indexed)
    assert sum(first.chunks_by_language.values()) == first.chunks_written
    before = points(store)

    second = run(corpus, store)
    assert second.chunks_written == 0
    assert second.indexed == () and second.removed == () and second.skipped == ()
    assert second.unchanged == len(first.indexed)
    assert points(store) == before
    assert_consistent(store, corpus)


def test_chunk_ids_are_deterministic_across_stores(corpus: Path, store: VectorStore) -> None:
    run(corpus, store)
    other = ClientStore(":memory:")
    try:
        run(corpus, other)
        assert set(points(other)) == set(points(store))
    finally:
        other.close()


def test_edge_store_rerun_after_reopen_writes_nothing(corpus: Path, tmp_path: Path) -> None:
    with EdgeStore(tmp_path / "persist") as store:
        first = run(corpus, store)
        ids = set(points(store))
    with EdgeStore(tmp_path / "persist") as store:
        again = run(corpus, store)
        assert again.chunks_written == 0 and again.unchanged == len(first.indexed)
        assert set(points(store)) == ids


# ---- incremental changes --------------------------------------------------------------------------


def test_edit_delete_rename_and_add_touch_only_those_files(corpus: Path, store: VectorStore) -> None:
    first = run(corpus, store)
    n_files = len(first.indexed)
    before = by_source(store, corpus)

    # Edit one file: only it is re-read, its old chunks are gone, every other id is untouched.
    edited = corpus / "de/nisthilfen.txt"
    edited.write_text(
        "\n\n".join(good_paragraphs("de", 5)) + "\n\nEin ganz neuer Absatz.\n", encoding="utf-8"
    )
    report = run(corpus, store)
    assert report.indexed == ("de/nisthilfen.txt",) and report.unchanged == n_files - 1
    after = by_source(store, corpus)
    assert not (after["de/nisthilfen.txt"] & before["de/nisthilfen.txt"]), (
        "old chunks of the edited file remain"
    )
    assert report.chunks_written == len(after["de/nisthilfen.txt"])
    assert {k: v for k, v in after.items() if k != "de/nisthilfen.txt"} == {
        k: v for k, v in before.items() if k != "de/nisthilfen.txt"
    }
    assert any("Ein ganz neuer Absatz" in str(p["text"]) for p in points(store).values())
    assert_consistent(store, corpus)

    # Delete a file and a whole folder: their chunks go, nothing is written.
    (corpus / "fr/coraux.txt").unlink()
    shutil.rmtree(corpus / "es")
    report = run(corpus, store)
    assert sorted(report.removed) == ["es/masa-madre.md", "fr/coraux.txt"]
    assert report.chunks_written == 0 and report.indexed == ()
    after = by_source(store, corpus)
    assert set(after) == set(before) - {"fr/coraux.txt", "es/masa-madre.md"}
    assert store.count(NAME) == sum(len(ids) for ids in after.values())
    assert_consistent(store, corpus)

    # Rename: the old path's chunks move to the new path, the count stays.
    count = store.count(NAME)
    (corpus / "en/bees.txt").rename(corpus / "en/honeybees.txt")
    report = run(corpus, store)
    assert report.removed == ("en/bees.txt",) and report.indexed == ("en/honeybees.txt",)
    assert store.count(NAME) == count
    assert "en/bees.txt" not in by_source(store, corpus)
    assert_consistent(store, corpus)

    # A new file is added beside the unchanged ones.
    (corpus / "es").mkdir()
    (corpus / "es/pan.txt").write_text("\n\n".join(good_paragraphs("es", 2)), encoding="utf-8")
    report = run(corpus, store)
    assert report.indexed == ("es/pan.txt",) and report.unchanged == n_files - 2
    assert_consistent(store, corpus)

    # Indexing a subfolder of an indexed folder changes nothing, and removes nothing outside it.
    snapshot = points(store)
    report = run(corpus / "de", store)
    assert report.chunks_written == 0 and report.removed == () and report.unchanged == 2
    assert points(store) == snapshot

    # An emptied folder leaves an empty collection.
    for child in corpus.iterdir():
        shutil.rmtree(child)
    report = run(corpus, store)
    assert len(report.removed) == n_files - 1 and store.count(NAME) == 0


def _deny(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Opening ``name`` fails with EACCES, as chmod 000 does for anyone but root."""
    real_open = builtins.open

    def guarded(file, *args, **kwargs):  # type: ignore[no-untyped-def]
        if os.fspath(file).endswith(name):
            raise PermissionError(13, "Permission denied", os.fspath(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(walk, "open", guarded, raising=False)


def test_a_file_newly_ignored_loses_its_chunks_and_is_counted(corpus: Path, store: VectorStore) -> None:
    first = run(corpus, store)
    assert "de/nisthilfen.txt" in by_source(store, corpus)
    (corpus / ".mlsearchignore").write_text("de/nisthilfen.txt\n", encoding="utf-8")
    report = run(corpus, store)
    assert report.removed == ("de/nisthilfen.txt",) and report.ignored == 1 and report.chunks_written == 0
    assert report.unchanged == len(first.indexed) - 1
    assert "1 ignored (.mlsearchignore)" in report.summary() and report.to_json()["ignored"] == 1
    assert "de/nisthilfen.txt" not in by_source(store, corpus)


def test_unreadable_files_keep_their_chunks_corrupt_ones_lose_them(
    corpus: Path, store: VectorStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(corpus, store)
    before = points(store)
    target = corpus / "fr/coraux.txt"
    target.chmod(0)
    try:
        with monkeypatch.context() as patch:
            if os.geteuid() == 0:  # root reads through chmod 000
                _deny(patch, "coraux.txt")
            report = run(corpus, store)
    finally:
        target.chmod(0o644)
    assert [(s.path, "permission denied" in s.reason) for s in report.skipped] == [("fr/coraux.txt", True)]
    assert report.removed == () and report.chunks_written == 0
    assert points(store) == before, "a file that could not be read was dropped from the index"

    # Readable again and unchanged: nothing to do.
    assert run(corpus, store).chunks_written == 0

    # Unreadable between the walk and the read (a race, an I/O error): still kept.
    import indexer.extract.loaders
    import indexer.pipeline

    real_open = indexer.pipeline.open_checked

    def failing_open(path: Path, real_root: str) -> OpenedFile:  # the one open after the walk
        if path.name == "coraux.txt":
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, real_root)

    def failing_extract(fmt: str, path: Path, config: object, source: str) -> object:
        raise OSError(5, "Input/output error", str(path))

    with monkeypatch.context() as patch:
        patch.setattr(indexer.pipeline, "open_checked", failing_open)
        report = run(corpus, store)
    assert [(s.path, s.reason) for s in report.skipped] == [
        ("fr/coraux.txt", "unreadable: Permission denied")
    ]
    (corpus / "de/nisthilfen.txt").write_text("\n\n".join(good_paragraphs("de", 4)), encoding="utf-8")
    with monkeypatch.context() as patch:
        patch.setattr(indexer.extract.loaders, "_extract", failing_extract)
        report = run(corpus, store)
    assert [(s.path, s.reason) for s in report.skipped] == [
        ("de/nisthilfen.txt", "unreadable: Input/output error")
    ]
    assert points(store) == before
    assert run(corpus, store).indexed == ("de/nisthilfen.txt",)  # readable again: the new version replaces it

    # A file whose new content cannot be extracted: reported, and its old text no longer served.
    (corpus / "en/report.pdf").write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 8)
    report = run(corpus, store)
    assert [s.path for s in report.skipped] == ["en/report.pdf"] and "corrupt" in report.skipped[0].reason
    assert "en/report.pdf" not in by_source(store, corpus)
    assert_consistent(store, corpus)


# ---- what a chunk carries -------------------------------------------------------------------------


def test_chunks_carry_source_page_language_and_format_and_are_found(corpus: Path, store: VectorStore) -> None:
    languages = make_good_corpus(corpus)
    run(corpus, store)
    seen: Counter[str] = Counter()
    for payload in points(store).values():
        source = Path(str(payload["source"]))
        name = source.relative_to(corpus).as_posix()
        seen[name] += 1
        assert source.is_absolute() and payload["root"] == corpus.as_posix()
        assert payload["doc_language"] == languages[name], name
        assert payload["language"] == languages[name], (name, payload["text"])
        assert (
            payload["format"] == {".txt": "txt", ".md": "md", ".html": "html", ".pdf": "pdf"}[source.suffix]
        )
        if source.suffix == ".pdf":
            assert payload["page"] in (1, 2)
        else:
            assert payload["page"] is None
    assert set(seen) == set(languages)
    pdf_pages = {p["page"] for p in points(store).values() if str(p["source"]).endswith(".pdf")}
    assert pdf_pages == {1, 2}

    searcher = Searcher(store, NAME, VectorSpace(FakeEmbedder()))
    query = good_paragraphs("fr", 0)[0]
    result = searcher.search(query, k=3)
    assert result.hits[0].relpath == "fr/coraux.txt"
    assert result.hits[0].language == "fr"


# ---- refusing what would corrupt a collection -----------------------------------------------------


def test_another_model_or_other_chunking_is_refused_with_what_to_do(corpus: Path, store: VectorStore) -> None:
    run(corpus, store)
    count = store.count(NAME)
    other = FakeEmbedder(fake_spec(name="other-model", dimension=32))
    with pytest.raises(ModelMismatchError) as info:
        run(corpus, store, other)
    message = str(info.value)
    assert "fake-hash-64" in message and "other-model" in message
    assert "--collection" in message and "--model" in message
    same_dimension = FakeEmbedder(fake_spec(name="other-model-64", dimension=64))
    with pytest.raises(ModelMismatchError):
        run(corpus, store, same_dimension)
    assert store.count(NAME) == count

    with pytest.raises(StoreError) as refused:
        run(corpus, store, chunk_tokens=48)
    message = str(refused.value)
    assert "chunk_tokens" in message and "new collection" in message
    with pytest.raises(StoreError, match="overlap_tokens"):
        run(corpus, store, overlap_tokens=0)
    assert store.count(NAME) == count
    assert run(corpus, store, batch_size=3).chunks_written == 0  # batch size does not change chunks


def test_a_missing_folder_is_an_error_not_an_empty_index(tmp_path: Path, store: VectorStore) -> None:
    with pytest.raises(NotADirectoryError):
        run(tmp_path / "nope", store)
    assert store.list_collections() == []


# ---- chunk ids ------------------------------------------------------------------------------------


def test_chunk_ids_never_change_between_versions() -> None:
    """Stored collections rely on these exact values: a change would re-write or duplicate every chunk."""
    assert (
        chunk_id("/data/docs/bienen.md", 0, "Wildbienen sind wichtig.")
        == "df7d493e-cbf6-5f39-85af-f4edc3dccf50"
    )
    assert (
        chunk_id("/data/docs/bienen.md", 1, "Wildbienen sind wichtig.")
        == "597d48ca-5a85-5f7c-97ae-8038d4c97a5a"
    )
    assert chunk_id("/data/docs/蜜蜂.md", 0, "蜜蜂 \ud800") == "19bf64db-0ef6-5a44-b7d2-01061a4c1ca2"


@settings(deadline=None, database=None, max_examples=200)
@given(
    a=st.tuples(st.text(min_size=1, max_size=30), st.integers(0, 10_000), st.text(max_size=200)),
    b=st.tuples(st.text(min_size=1, max_size=30), st.integers(0, 10_000), st.text(max_size=200)),
)
def test_chunk_ids_are_valid_uuids_equal_exactly_for_equal_inputs(
    a: tuple[str, int, str], b: tuple[str, int, str]
) -> None:
    ids = chunk_id(*a), chunk_id(*b)
    assert all(str(uuid.UUID(i)) == i for i in ids)  # both Qdrant backends accept them as point ids
    assert (ids[0] == ids[1]) == (a == b)


def test_progress_counts_a_file_once_its_chunks_are_written(corpus: Path, store: VectorStore) -> None:
    """The bar moves with the model, not with extraction, and reaches the end on a re-run too."""
    from search.core.reports import IndexProgress

    seen: list[tuple[IndexProgress, int]] = []  # each event with the chunks stored at that moment

    def record(event: IndexProgress) -> None:
        seen.append((event, store.count(NAME)))

    first = index_folder(corpus, VectorSpace(FakeEmbedder()), store, NAME, config=CONFIG, progress=record)
    done = [event.files_done for event, _ in seen]
    last = seen[-1][0]
    assert done == sorted(done) and done[-1] == last.files_total and first.chunks_written > 0
    assert last.chunks_written == first.chunks_written
    assert all(event.chunks_written <= stored for event, stored in seen)  # reported written = stored

    seen.clear()
    again = index_folder(corpus, VectorSpace(FakeEmbedder()), store, NAME, config=CONFIG, progress=record)
    last = seen[-1][0]
    assert again.chunks_written == 0 and last.files_done == last.files_total == again.unchanged
