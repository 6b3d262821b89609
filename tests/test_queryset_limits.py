"""Query sets cannot exhaust memory, read outside their folder or put their content into messages
(issue 21, items 8, 9 and 10).

A gzip file is decompressed at most 100 times its size and one line is at most 10 MB (as the
indexer bounds documents), so a 4 MB file holding one 4 GB line is refused after reading a few MB.
Files that resolve outside the folder are refused unread; messages quote at most a short,
escaped excerpt of an id; a UTF-8 byte-order mark is fine; grades are whole numbers in -10..100.
"""

from __future__ import annotations

import gzip
import json
import os
import resource
import time
from pathlib import Path

import pytest

from search.core.errors import QuerySetError
from search.evaluation import records
from search.evaluation.querysets import load_queryset

QRELS = "query-id\tcorpus-id\tscore\nq1\td1\t1\n"


def make_set(folder: Path, corpus: str | None = None, queries: str | None = None, qrels: str = QRELS) -> Path:
    folder.mkdir(parents=True)
    doc = json.dumps({"_id": "d1", "text": "honeybees"}) + "\n"
    query = json.dumps({"_id": "q1", "text": "bees"}) + "\n"
    (folder / "corpus.jsonl").write_text(doc if corpus is None else corpus, encoding="utf-8")
    (folder / "queries.jsonl").write_text(query if queries is None else queries, encoding="utf-8")
    (folder / "qrels.tsv").write_text(qrels, encoding="utf-8")
    return folder


def load(folder: Path) -> object:
    return load_queryset(folder, detect_languages=False)


def test_a_gzip_bomb_is_refused_after_a_few_megabytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = make_set(tmp_path / "bomb")
    (folder / "corpus.jsonl").unlink()
    with gzip.open(folder / "corpus.jsonl.gz", "wb", compresslevel=9) as handle:  # one 200 MB line in ~0.2 MB
        handle.write(b'{"_id": "d1", "text": "')
        for _ in range(200):
            handle.write(b"a" * (1 << 20))
        handle.write(b'"}\n')
    assert (folder / "corpus.jsonl.gz").stat().st_size < 400_000
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    with pytest.raises(QuerySetError, match=r"^corpus.jsonl.gz:1: a line longer than 10 MB") as caught:
        load(folder)
    assert time.perf_counter() - started < 5 and "\n" not in str(caught.value)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100 * 1024  # KB: well under 100 MB
    # Many short lines that decompress past 100 times the file's size: the ratio stops them.
    monkeypatch.setattr(records, "GZIP_RATIO_FLOOR", 1 << 20)
    with gzip.open(folder / "corpus.jsonl.gz", "wb", compresslevel=9) as handle:
        for i in range(20_000):  # 40 MB of lines that differ only by their id: well over 100:1
            handle.write((json.dumps({"_id": f"d{i}", "text": "a" * 2000}) + "\n").encode())
    with pytest.raises(
        QuerySetError, match=r"^corpus.jsonl.gz: decompresses to more than 100 times its size"
    ):
        load(folder)


def test_a_long_line_in_a_plain_file_is_refused(tmp_path: Path) -> None:
    folder = make_set(tmp_path / "long", queries=json.dumps({"_id": "q1", "text": "b" * (11 << 20)}) + "\n")
    with pytest.raises(QuerySetError, match=r"^queries.jsonl:1: a line longer than 10 MB"):
        load(folder)


def test_a_symlink_out_of_the_folder_is_refused_unread(tmp_path: Path) -> None:
    secret = tmp_path / "secret.tsv"
    secret.write_text("AWS_SECRET=AKIAEXAMPLEKEY\td1\t1\n", encoding="utf-8")
    folder = make_set(tmp_path / "linked")
    (folder / "qrels.tsv").unlink()
    os.symlink(secret, folder / "qrels.tsv")
    with pytest.raises(QuerySetError) as caught:
        load(folder)
    assert "outside the query set folder" in str(caught.value) and "AKIA" not in str(caught.value)
    inside = make_set(tmp_path / "inside")  # a link that stays inside the folder is fine
    (inside / "data").mkdir()
    os.replace(inside / "qrels.tsv", inside / "data" / "qrels.tsv")
    os.symlink("data/qrels.tsv", inside / "qrels.tsv")
    assert load(inside)


def test_messages_quote_a_short_escaped_excerpt_only(tmp_path: Path) -> None:
    hostile = '<img src="http://evil.example/p.png"> ![x](http://evil.example) \x1b]0;PWNED\x07 ' + "k" * 500
    folder = make_set(tmp_path / "markup", qrels=f"query-id\tcorpus-id\tscore\n{hostile}\td1\t1\n")
    with pytest.raises(QuerySetError) as caught:
        load(folder)
    message = str(caught.value)
    assert message.startswith("qrels.tsv:2: unknown query id '") and len(message) < 120
    assert "\x1b" not in message and "\x07" not in message and "k" * 100 not in message


def test_a_byte_order_mark_is_fine(tmp_path: Path) -> None:
    bom = "\ufeff"
    folder = make_set(
        tmp_path / "bom",
        corpus=bom + json.dumps({"_id": "d1", "text": "honeybees"}) + "\n",
        queries=bom + json.dumps({"_id": "q1", "text": "bees"}) + "\n",
        qrels=bom + QRELS,
    )
    queryset = load(folder)
    assert list(queryset.corpus) == ["d1"] and queryset.qrels == {"q1": {"d1": 1}}  # type: ignore[attr-defined]
    folder = make_set(tmp_path / "bom-gz")
    with gzip.open(folder / "corpus.jsonl.gz", "wb") as handle:
        handle.write(("\ufeff" + json.dumps({"_id": "d1", "text": "x"}) + "\n").encode("utf-8"))
    (folder / "corpus.jsonl").unlink()
    assert load(folder)


@pytest.mark.parametrize(
    ("score", "message"),
    [
        ("1e308", "outside -10..100"),
        ("101", "outside -10..100"),
        ("-11", "outside -10..100"),
        ("2.7", "not a whole number"),
        ("nan", "not a whole number"),
        ("inf", "not a whole number"),
        ("x", "not a number"),
    ],
)
def test_grades_are_small_whole_numbers(tmp_path: Path, score: str, message: str) -> None:
    folder = make_set(tmp_path / "grades", qrels=f"query-id\tcorpus-id\tscore\nq1\td1\t{score}\n")
    with pytest.raises(QuerySetError, match=rf"^qrels.tsv:2: score '{score}' is {message}"):
        load(folder)


def test_usual_grades_load(tmp_path: Path) -> None:
    folder = make_set(tmp_path / "ok", qrels="query-id\tcorpus-id\tscore\nq1\td1\t2.0\n")
    assert load(folder).qrels == {"q1": {"d1": 2}}  # type: ignore[attr-defined]


def test_a_card_pattern_outside_the_folder_names_no_file(tmp_path: Path) -> None:
    """An MTEB dataset card may name files by pattern; one leading out of the folder is never read."""
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "test.jsonl").write_text(json.dumps({"query-id": "q1", "corpus-id": "d1", "score": 1}) + "\n")
    folder = tmp_path / "mteb"
    for config in ("corpus", "queries"):
        (folder / config).mkdir(parents=True)
    (folder / "corpus" / "test.jsonl").write_text(json.dumps({"_id": "d1", "text": "x"}) + "\n")
    (folder / "queries" / "test.jsonl").write_text(json.dumps({"_id": "q1", "text": "y"}) + "\n")
    (folder / "README.md").write_text(
        "---\nconfigs:\n- config_name: corpus\n  data_files:\n  - split: test\n    path: corpus/test.jsonl\n"
        "- config_name: queries\n  data_files:\n  - split: test\n    path: queries/test.jsonl\n"
        "- config_name: default\n  data_files:\n  - split: test\n    path: ../elsewhere/test.jsonl\n"
        f"- config_name: qrels\n  data_files:\n  - split: test\n    path: {outside}/test.jsonl\n---\n",
        encoding="utf-8",
    )
    with pytest.raises(QuerySetError) as caught:
        load(folder)
    assert "outside the query set folder" in str(caught.value) or "qrels" in str(caught.value)
