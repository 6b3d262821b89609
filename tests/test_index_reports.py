"""What an index report says (issue 25): unsupported files named, not only counted (CLI, JSON and the
Index tab), and the embedding-cache reuse in the Index tab as in the CLI."""

from __future__ import annotations

from pathlib import Path

from indexer.pipeline import IndexConfig, index_folder
from search.space.vector_space import VectorSpace
from search.stores.client import ClientStore
from tests.fakes import FakeEmbedder
from ui.render import index_report_html


def test_unsupported_files_are_named_in_every_report(tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "notes.txt").write_text("Bees carry pollen between flowers.", encoding="utf-8")
    for i in range(12):
        (folder / f"sheet{i:02d}.xls").write_bytes(b"\xd0\xcf\x11\xe0")
    (folder / "film.mkv").write_bytes(b"\x1a\x45\xdf\xa3")
    store = ClientStore(":memory:")
    report = index_folder(
        folder, VectorSpace(FakeEmbedder()), store, "docs", config=IndexConfig(optimize=False)
    )
    store.close()
    assert report.unsupported == 13 and len(report.unsupported_files) == 10
    assert report.unsupported_files[0] == "film.mkv" and "sheet00.xls" in report.unsupported_files
    summary = report.summary()
    assert "not read (unsupported type): film.mkv, sheet00.xls" in summary and "and 3 more" in summary
    assert report.to_json()["unsupported_files"][:2] == ["film.mkv", "sheet00.xls"]
    html = index_report_html(report)
    assert "Not read (unsupported type): film.mkv" in html and "and 3 more" in html


def test_index_tab_report_shows_vectors_reused_from_the_cache(tmp_path: Path) -> None:
    from dataclasses import replace

    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "notes.txt").write_text("Bees carry pollen between flowers.", encoding="utf-8")
    store = ClientStore(":memory:")
    report = index_folder(
        folder, VectorSpace(FakeEmbedder()), store, "docs", config=IndexConfig(optimize=False)
    )
    store.close()
    assert "embedding cache" not in index_report_html(report)
    reused = replace(report, vectors_reused=report.chunks_written)
    assert f"{report.chunks_written} of the {report.chunks_written} passages' vectors were reused" in (
        index_report_html(reused)
    )
    assert "vectors reused from the embedding cache" in reused.summary()


def test_entry_point_silences_numba_after_evaluate_and_skeletoken_while_distilling() -> None:
    """The two notices users saw in the terminal (issue 25); any other warning still shows."""
    import subprocess
    import sys

    code = (
        "import logging, warnings\n"
        "from search.core.environment import prepare_process\n"
        "prepare_process()\n"
        "logging.basicConfig()\n"
        "warnings.warn_explicit('unsafe cast from uint64 to int64. Precision may be lost.', UserWarning,"
        " 'ranx/utils.py', 19, module='ranx.utils')\n"
        "logging.getLogger('skeletoken.base').warning(\"Adding missing added token '<s>' to the vocabulary.\")\n"
        "warnings.warn('ours', UserWarning)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "unsafe cast" not in done.stderr and "Adding missing" not in done.stderr
    assert "ours" in done.stderr


def test_cues_shown_never_rise_down_the_ranking() -> None:
    """Hybrid, sparse and second-stage orders are not the cue's closeness: a cue stronger than one
    shown above it is left out (a 'weak' rank 1 never sits above a 'strong' rank 2)."""
    from search.application.cues import monotone_cues

    assert monotone_cues(("weak", "strong", "weak", "none", "weak", "none")) == (
        "weak",
        None,
        "weak",
        "none",
        None,
        "none",
    )
    assert monotone_cues(("strong", "strong", "weak", "none")) == ("strong", "strong", "weak", "none")
