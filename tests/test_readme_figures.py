"""README figures that cost nothing to recompute, held to what the README says.

Why: a figure in the README is a promise to a reader; these are the ones a test can check in the
default run (no model): the sample corpus the first launch indexes and the relevance-cue thresholds
the app ships. Figures that need the model are held by slow tests (the README's "Figures and the
tests that hold them" lists which); speed and memory figures are the benchmarks' (not timed tests).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from benchmarks.common import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")
SAMPLE = REPO / "sample_corpora"


def _jsonl(path: Path) -> list[dict[str, str]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def test_the_sample_corpus_is_what_the_readme_says() -> None:
    """ "51 short documents in 15 languages and 9 formats; three are scanned pages" and "128 queries
    in 13 languages", wherever the README repeats them."""
    from tests.test_sample_corpora import SOURCES

    corpus = _jsonl(SAMPLE / "queryset" / "corpus.jsonl")
    queries = _jsonl(SAMPLE / "queryset" / "queries.jsonl")
    files = [p for p in (SAMPLE / "documents").rglob("*") if p.is_file()]
    documents, languages, formats = (
        len(files),
        len({doc["language"] for doc in corpus}),
        len({p.suffix for p in files}),
    )
    scans = sum(1 for src in SOURCES if src.scan)
    intro = re.search(
        r"\((\d+) short documents in (\d+) languages and (\d+) formats; (\w+) are scanned", README
    )
    assert intro is not None, "the README's sentence about the sample corpus changed: update this test"
    assert (int(intro[1]), int(intro[2]), int(intro[3])) == (documents, languages, formats)
    assert intro[4] == {3: "three"}.get(scans, str(scans))
    assert len(corpus) == documents
    query_languages = len({q["language"] for q in queries})
    mentions = re.findall(r"(\d+) queries in (\d+) languages", README)
    assert mentions, "the README no longer says how many queries the sample set has"
    for count, langs in mentions:
        if "as it was then" in README.split(f"{count} queries in {langs} languages")[0][-40:]:
            continue  # a figure of an earlier version, labelled as such
        assert (int(count), int(langs)) == (len(queries), query_languages)


def test_the_readme_cue_table_is_the_shipped_calibration() -> None:
    """The relevance cue's thresholds in the README's table are those the app reads: fitted means,
    and the frozen ones in brackets; a row marked withdrawn is one the app shows no cue for, its
    thresholds kept under "withdrawn" in the file."""
    entries = json.loads((REPO / "search" / "retrieval" / "cue_thresholds.json").read_text())["entries"]
    rows = re.findall(
        r"^\| (dense|sparse|hybrid)( \(withdrawn[^)]*\))? \| ([-\d.]+) \(([-\d.]+)\) \| ([-\d.]+) \(([-\d.]+)\) \|",
        README,
        re.M,
    )
    assert {row[0] for row in rows} == {"dense", "sparse", "hybrid"}
    vote = "prf-query-v2:w=0.4,top=5,t=0.01"
    for mode, withdrawn, strong, strong_v1, weak, weak_v1 in rows:
        fitted = entries[f"multilingual-e5-small|{mode}|centering-v2|{vote}"]
        frozen = entries[f"multilingual-e5-small|{mode}|centering-v1|{vote}"]
        assert ("withdrawn" in fitted) == ("withdrawn" in frozen) == bool(withdrawn), mode
        if withdrawn:
            fitted, frozen = fitted["withdrawn"], frozen["withdrawn"]
        assert (float(strong), float(weak)) == (fitted["strong"], fitted["weak"]), mode
        assert (float(strong_v1), float(weak_v1)) == (frozen["strong"], frozen["weak"]), mode
