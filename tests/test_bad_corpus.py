"""The whole indexer over a folder of hostile files: it finishes, reports every bad file, loses no good one.

Runs index_folder in a child process so its peak RSS can be measured from the
kernel's high-water mark (MuPDF, lxml and the zip readers allocate outside
Python, where tracemalloc cannot see), after the parsers and language profiles
have been loaded once, as they are in any long-running indexer.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.bad_inputs import BIG_BYTES, HUGE_BYTES, LOADS, make_bad_corpus

pytestmark = pytest.mark.usefixtures("no_network")

REPO = Path(__file__).resolve().parents[1]
MB = 1024 * 1024
# The run may grow by what the good files and their chunks need, never by the 50 MB and 20 MB
# text files or the 30 MB the zip bombs would inflate to.
RSS_GROWTH_LIMIT = 120 * MB

SCRIPT = textwrap.dedent(
    """
    import builtins, json, os, sys
    from pathlib import Path

    root, data = Path(sys.argv[1]), Path(sys.argv[2])
    from indexer import walk
    if os.geteuid() == 0:  # root reads through chmod 000: fail the open the way it fails for users
        real_open = builtins.open
        def guarded(file, *args, **kwargs):
            if os.fspath(file).endswith("unreadable.txt"):
                raise PermissionError(13, "Permission denied", os.fspath(file))
            return real_open(file, *args, **kwargs)
        walk.open = guarded

    from indexer.extract.pdf import _pymupdf
    from search.text.language import detect_language
    from indexer.extract.unstructured_offline import partitioner
    from indexer.pipeline import IndexConfig, index_folder
    from search.space.vector_space import VectorSpace
    from search.stores.edge import EdgeStore
    from tests.fakes import FakeEmbedder

    _pymupdf()
    detect_language("Profiles are loaded on the first call of the process.")
    for kind in ("text", "html", "md", "docx", "pptx"):
        partitioner(kind)

    def status(field):
        with open("/proc/self/status") as handle:
            for line in handle:
                if line.startswith(field):
                    return int(line.split()[1]) * 1024
        return None

    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")  # reset VmHWM to the current RSS
        baseline = status("VmRSS")
    except OSError:
        baseline = None

    config = IndexConfig(chunk_tokens=64, overlap_tokens=8)
    with EdgeStore(data) as store:
        first = index_folder(root, VectorSpace(FakeEmbedder()), store, "docs", config=config)
        peak = status("VmHWM")
        chunks = {}
        for _, payload in store.iter_payloads("docs", ("source",)):
            name = os.path.relpath(payload["source"], root)
            chunks[name] = chunks.get(name, 0) + 1
        second = index_folder(root, VectorSpace(FakeEmbedder()), store, "docs", config=config)
    print(json.dumps({
        "first": first.to_json(),
        "second": second.to_json(),
        "chunks": chunks,
        "rss_growth": None if baseline is None else peak - baseline,
        "summary": first.summary(),
    }))
    """
)


def test_bad_corpus_is_indexed_completely_with_every_bad_file_reported(tmp_path: Path) -> None:
    root = tmp_path / "corpus"
    expected = make_bad_corpus(root)
    assert (root / "big-20mb.txt").stat().st_size == BIG_BYTES
    assert (root / "huge-single-line.txt").stat().st_size == HUGE_BYTES
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(root), str(tmp_path / "index")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    first, second = result["first"], result["second"]

    good = {name for name, reason in expected.items() if reason == LOADS}
    bad = {name: reason for name, reason in expected.items() if reason != LOADS}
    reported = {item["path"]: item["reason"] for item in first["skipped"]}

    # Every bad file reported once, with its reason; nothing else skipped.
    assert set(reported) == set(bad), (set(reported) ^ set(bad), result["summary"])
    wrong = {
        name: (keyword, reported[name]) for name, keyword in bad.items() if keyword not in reported[name]
    }
    assert not wrong, wrong
    for reason in reported.values():
        assert reason and "\n" not in reason and len(reason) < 240
    # Every good file indexed, and it is in the store.
    assert set(first["indexed"]) == good, set(first["indexed"]) ^ good
    assert set(result["chunks"]) == good
    assert first["chunks_written"] == sum(result["chunks"].values())
    assert first["files_seen"] == len(expected) and first["unsupported"] == 1
    assert not first["removed"] and not first["cancelled"]

    # The second run re-reads only what failed (it may be fixed by now) and writes nothing.
    assert second["chunks_written"] == 0 and second["indexed"] == [] and second["removed"] == []
    assert second["unchanged"] == len(good)
    assert {item["path"] for item in second["skipped"]} == set(bad)

    if result["rss_growth"] is None:
        pytest.skip("cannot reset the RSS high-water mark here (/proc/self/clear_refs)")
    assert result["rss_growth"] < RSS_GROWTH_LIMIT, f"RSS grew by {result['rss_growth'] / MB:.0f} MB"
    print(
        f"bad corpus: {len(expected)} files, {len(reported)} reported with reasons, "
        f"{len(first['indexed'])} indexed ({first['chunks_written']} chunks), "
        f"peak RSS growth {result['rss_growth'] / MB:.1f} MB"
    )
