"""Half-written model conversions and exports a killed process left in the cache are removed on start
(issue 16, item 6), and only those: a temporary another live process is writing stays."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from search.models import scratch
from search.models.encoders.bundled import bundled_model_dir, ensure_bundled_model


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def temporary(parent: Path, name: str, *, age_s: float = 0.0) -> Path:
    folder = parent / name
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "model.safetensors").write_bytes(b"\0" * 1024)
    if age_s:
        stamp = time.time() - age_s
        os.utime(folder, (stamp, stamp))
    return folder


def test_only_temporaries_of_dead_writers_are_removed(tmp_path: Path) -> None:
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        dead = temporary(tmp_path, f".model-x.{dead_pid()}-abc123.tmp")
        trash = temporary(tmp_path, f".model-x.{dead_pid()}-def456.old")
        mine = temporary(tmp_path, f".model-x.{os.getpid()}-ghi789.tmp")  # this process, another thread
        theirs = temporary(tmp_path, f".model-x.{live.pid}-jkl012.tmp")  # another live process
        legacy_old = temporary(tmp_path, ".model-x.k2j3h4.tmp", age_s=2 * scratch.LEGACY_AGE_S)
        legacy_new = temporary(tmp_path, ".model-x.m5n6p7.tmp")  # no pid, recent: may be in progress
        finished = temporary(tmp_path, "model-x")  # a finished model is never touched
        hidden = temporary(tmp_path, ".locks")  # nor anything else hidden
        removed = scratch.remove_stale_temporaries(tmp_path)
        assert sorted(removed) == sorted([dead, trash, legacy_old])
        for kept in (mine, theirs, legacy_new, finished, hidden):
            assert kept.is_dir()
    finally:
        live.kill()
        live.wait()


def test_private_dirs_carry_the_writer_pid(tmp_path: Path) -> None:
    folder = scratch.private_dir(tmp_path / "models", "model-x")
    assert folder.name.startswith(f".model-x.{os.getpid()}-") and folder.name.endswith(".tmp")
    assert scratch.remove_stale_temporaries(tmp_path / "models") == []  # ours, alive


def test_starting_removes_what_an_interrupted_conversion_left(
    bundled_model_cache: Path, no_network: list[object]
) -> None:
    """The path every start takes (the bundled model, already converted) cleans the cache folder."""
    parent = bundled_model_dir(bundled_model_cache).parent
    left = temporary(parent, f".{bundled_model_dir(bundled_model_cache).name}.{dead_pid()}-zz9.tmp")
    ensure_bundled_model(bundled_model_cache)
    assert not left.exists()
    assert bundled_model_dir(bundled_model_cache).is_dir()


def test_exporting_removes_what_an_interrupted_export_left(tmp_path: Path) -> None:
    from search.models.loading import load_embedder
    from tests.tiny_models import save_tiny_encoder

    spec = save_tiny_encoder(tmp_path / "tiny")
    onnx = tmp_path / "cache" / "onnx"
    left = temporary(onnx, f".tiny-e5-tiny-1-0123456789abcdef.{dead_pid()}-q1.tmp")
    load_embedder(spec, backend="onnx", cache_dir=tmp_path / "cache").encode_queries(["x"])  # exports
    assert not left.exists()
    assert [p.name for p in onnx.iterdir() if p.name.startswith(".")] == []
