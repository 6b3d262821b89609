"""Peak memory stays bounded on hostile text shapes (issue 16, item 2).

Each case runs in a fresh process that first indexes an ordinary folder (the
baseline: imports, parsers and the model's tokenizer warmed up, their peak
reached), then a folder holding one generated hostile file, and reports how far
the second run pushed the peak RSS (``ru_maxrss``) above the first. The model is
FakeEmbedder's hashing with a real ``tokenizers`` Unigram tokenizer for the
counts (an XLM-R-like one built in the test), so the chunker's token counting
allocates as it does with the real model; the real model's own figures, before
and after, are in ``python -m benchmarks.long_lines``.

Measured before the fix (same shapes, 10 MB, real model): one line of words
+2.6 GB over an ordinary run, one line without spaces +12.3 GB.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.usefixtures("no_network")

REPO = Path(__file__).resolve().parents[1]
GROWTH_LIMIT_MB = 250  # the bound is 500 MB for any size; these inputs are 2-10 MB

CHILD = textwrap.dedent(
    """
    import json, resource, sys, time
    from pathlib import Path
    from indexer.pipeline import IndexConfig, index_folder
    from search.space.vector_space import VectorSpace
    from search.stores.client import ClientStore
    from tests.fakes import FakeEmbedder, fake_spec
    from tests.tiny_models import tiny_xlmr_tokenizer

    class TokenizerFake(FakeEmbedder):
        '''Hashing vectors, token counts from a real tokenizers model (its Encoding objects and all).'''
        tokenizer = tiny_xlmr_tokenizer(extra_characters=sys.argv[3])

        def count_tokens(self, texts):
            return [len(e.ids) for e in self.tokenizer.encode_batch(list(texts), add_special_tokens=False)]

    def peak_mb():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    ordinary, hostile = Path(sys.argv[1]), Path(sys.argv[2])
    embedder = TokenizerFake(fake_spec(max_tokens=512))
    config = IndexConfig(chunk_tokens=512, overlap_tokens=32).with_max_file_mb(300)
    store = ClientStore(":memory:")
    index_folder(ordinary, VectorSpace(embedder), store, "ordinary", config=config)
    before = peak_mb()
    started = time.perf_counter()
    report = index_folder(hostile, VectorSpace(embedder), store, "hostile", config=config)
    print(json.dumps({
        "growth_mb": peak_mb() - before,
        "baseline_mb": before,
        "seconds": time.perf_counter() - started,
        "indexed": list(report.indexed),
        "skipped": [[s.path, s.reason] for s in report.skipped],
        "chunks": report.chunks_written,
    }))
    """
)
# Words the tiny tokenizer knows, so a chunk holds ~500 words as it would ~500 real subwords.
SENTENCE = "the cat and the dog read a book in the house by the tree with water"
WORDS = SENTENCE.split(" ")
THAI = "ภาษาไทยสวัสดีครับวันนี้อากาศดีมาก"  # its characters are pieces of the tokenizer too


def one_line_of_words(size: int) -> str:
    line = " ".join(WORDS[i % len(WORDS)] for i in range(size // 4))
    return line[:size]


def ordinary(folder: Path) -> Path:
    folder.mkdir()
    for i in range(3):
        paragraph = " ".join(WORDS) + ". "
        (folder / f"note-{i}.txt").write_text("\n\n".join([paragraph * 5] * 6), encoding="utf-8")
    return folder


def peak_growth(tmp_path: Path, name: str, content: str) -> dict[str, object]:
    folder = tmp_path / "hostile"
    folder.mkdir()
    (folder / name).write_text(content, encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(ordinary(tmp_path / "ordinary")), str(folder), "".join(set(THAI))],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    measured: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    assert measured["indexed"] == [name] and measured["skipped"] == [], measured
    print(
        f"{name}: {len(content.encode()) / 2**20:.1f} MB, peak growth {measured['growth_mb']:.0f} MB, "
        f"{measured['chunks']} chunks, {measured['seconds']:.0f} s"
    )
    return measured


def test_a_10_mb_line_of_words_stays_within_the_bound(tmp_path: Path) -> None:
    """The issue's case: one 10 MB line (3.8 GB peak before, under the default cap)."""
    measured = peak_growth(tmp_path, "one-line.txt", one_line_of_words(10 * 2**20))
    assert float(measured["growth_mb"]) < GROWTH_LIMIT_MB  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "content"),
    [
        # no space anywhere: cut between characters (Thai decides its language by script alone)
        ("no-spaces.txt", THAI * 30_000),
        # one paragraph of many lines, no blank line: one section, grouped by the partitioner
        ("giant-paragraph.md", "\n".join(one_line_of_words(200) for _ in range(15_000))),
        # one HTML element holding everything (HTML is parsed whole: the default 10 MB cap applies)
        ("giant-element.html", f"<html><body><p>{one_line_of_words(3 * 2**20)}</p></body></html>"),
    ],
)
def test_other_hostile_shapes_stay_within_the_bound(tmp_path: Path, name: str, content: str) -> None:
    measured = peak_growth(tmp_path, name, content)
    assert float(measured["growth_mb"]) < GROWTH_LIMIT_MB  # type: ignore[arg-type]
