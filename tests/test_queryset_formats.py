"""Query sets as they come from outside: standard BEIR folders, MTEB tasks on disk, and what is refused.

A standard BEIR folder (qrels/test.tsv, no language field, integer ids, gzip) must load,
languages must be detected where the files have none (given ones kept), and a set
that cannot be evaluated must fail at once, naming the file and what to do.
"""

from __future__ import annotations

import gzip
import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from search.core.errors import QuerySetError
from search.core.types import UNDETERMINED
from search.evaluation.languages import DETECTOR, DOCUMENT_LANGUAGES, QUERY_LANGUAGES
from search.evaluation.querysets import load_queryset, queryset_source

DOCS = [  # (integer id, title, text, language the detector must find)
    (
        1,
        "Honigbienen",
        "Die Honigbiene sammelt Nektar und Pollen von vielen verschiedenen Blüten im Garten.",
        "de",
    ),
    (
        2,
        "Volcanoes",
        "Volcanic ash can travel thousands of kilometres and disrupt air traffic for many days.",
        "en",
    ),
    (3, "", "富士山は日本で最も高い山であり、その美しい姿は多くの芸術作品に描かれてきました。", "ja"),
    (
        4,
        "Vélo",
        "Les pistes cyclables protégées rendent la ville beaucoup plus sûre pour tous les cyclistes.",
        "fr",
    ),
]
QUERIES = [  # (integer id, text, language)
    (10, "Welche Pollen und welchen Nektar sammeln die Honigbienen im Garten?", "de"),
    (11, "How far can the ash of a volcanic eruption travel?", "en"),
    (12, "富士山はどのくらいの高さですか", "ja"),
    (13, "Pourquoi les pistes cyclables protégées sont-elles plus sûres?", "fr"),
]


def write_jsonl(path: Path, records: list[dict[str, Any]], compress: bool = False) -> Path:
    text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    if compress:
        with gzip.open(path, "wt", encoding="utf-8") as handle:
            handle.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def beir_folder(root: Path, *, gz: bool = True, languages: bool = False) -> Path:
    """What a BEIR download looks like: integer ids, extra fields, no language, a split per qrels file."""
    root.mkdir(parents=True)
    (root / "qrels").mkdir()
    write_jsonl(
        root / ("corpus.jsonl.gz" if gz else "corpus.jsonl"),
        [
            {"_id": i, "title": t, "text": x, "metadata": {"url": f"https://x/{i}"}}
            | ({"language": lang} if languages else {})
            for i, t, x, lang in DOCS
        ],
        compress=gz,
    )
    write_jsonl(
        root / "queries.jsonl",
        [
            {"_id": i, "text": x, "metadata": {}} | ({"language": lang} if languages else {})
            for i, x, lang in QUERIES
        ],
    )
    header = "query-id\tcorpus-id\tscore\n"
    (root / "qrels" / "test.tsv").write_text(
        header + "10\t1\t1\n11\t2\t1\n12\t3\t2\n12\t1\t0\n", encoding="utf-8"
    )
    (root / "qrels" / "dev.tsv").write_text(header + "13\t4\t1\n", encoding="utf-8")
    return root


def test_standard_beir_folder_loads_with_detected_languages(tmp_path: Path) -> None:
    qs = load_queryset(beir_folder(tmp_path / "scifact-like"))
    assert qs.name == "scifact-like"
    assert set(qs.corpus) == {"1", "2", "3", "4"} and set(qs.queries) == {"10", "11", "12", "13"}
    assert {q: dict(j) for q, j in qs.qrels.items()} == {"10": {"1": 1}, "11": {"2": 1}, "12": {"3": 2}}
    assert qs.corpus["1"].title == "Honigbienen" and qs.corpus["3"].title == ""
    for qid, _, lang in QUERIES[:3]:  # judged queries: detected
        assert qs.queries[str(qid)].language == lang
    assert qs.queries["13"].language == UNDETERMINED  # not judged in this split: not detected
    for doc_id, _, _, lang in DOCS[:3]:  # relevant documents: detected
        assert qs.corpus[str(doc_id)].language == lang
    source = queryset_source(qs)
    assert source["layout"] == "BEIR" and source["split"] == "test"
    assert source["files"] == "corpus.jsonl.gz, queries.jsonl, qrels/test.tsv"
    assert source[QUERY_LANGUAGES].startswith(f"detected by {DETECTOR} for all 3 judged queries")
    assert "relevant documents" in source[DOCUMENT_LANGUAGES]


def test_given_languages_are_kept_and_said_to_be_given(tmp_path: Path) -> None:
    folder = beir_folder(tmp_path / "set", gz=False, languages=True)
    lines = (folder / "queries.jsonl").read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[0]) | {"language": "xx"}  # a label the detector would never give
    second = json.loads(lines[1])
    second.pop("language")
    (folder / "queries.jsonl").write_text(
        "\n".join([json.dumps(record, ensure_ascii=False), json.dumps(second), *lines[2:]]) + "\n",
        encoding="utf-8",
    )
    qs = load_queryset(folder)
    assert qs.queries["10"].language == "xx"  # given: kept, even when the detector disagrees
    assert qs.queries["11"].language == "en"  # missing: detected
    source = queryset_source(qs)
    assert source[QUERY_LANGUAGES].startswith("given for 2 of 3 judged queries; detected by")
    assert source[DOCUMENT_LANGUAGES] == "given (corpus.jsonl)"
    assert load_queryset(folder, detect_languages=False).queries["11"].language == UNDETERMINED


def test_split_is_chosen_and_a_missing_one_lists_the_others(tmp_path: Path) -> None:
    folder = beir_folder(tmp_path / "set")
    dev = load_queryset(folder, split="dev")
    assert {q: dict(j) for q, j in dev.qrels.items()} == {"13": {"4": 1}}
    assert dev.queries["13"].language == "fr" and dev.metadata["files"].endswith("qrels/dev.tsv")
    with pytest.raises(
        QuerySetError,
        match=r"no qrels file for split 'train' \(splits here: dev, test\); choose one with --split",
    ):
        load_queryset(folder, split="train")


def test_qrels_as_json_lines_and_trec_columns(tmp_path: Path) -> None:
    folder = beir_folder(tmp_path / "set")
    (folder / "qrels" / "test.tsv").unlink()
    write_jsonl(folder / "qrels" / "test.jsonl", [{"query-id": 10, "corpus-id": 1, "score": 1}])
    assert {q: dict(j) for q, j in load_queryset(folder).qrels.items()} == {"10": {"1": 1}}
    (folder / "qrels" / "test.jsonl").unlink()
    (folder / "qrels" / "test.tsv").write_text(
        "11 0 2 1\n12 0 3 2\n", encoding="utf-8"
    )  # TREC: qid iter doc rel
    assert {q: dict(j) for q, j in load_queryset(folder).qrels.items()} == {"11": {"2": 1}, "12": {"3": 2}}


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (
            lambda f: (f / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n"),
            r"qrels/test.tsv: no judgements",
        ),
        (lambda f: (f / "qrels" / "test.tsv").write_text(""), r"qrels/test.tsv: no judgements"),
        (lambda f: (f / "qrels" / "test.tsv").write_text("10\t1\t0\n"), "no query has a relevant document"),
        (
            lambda f: (f / "qrels" / "test.tsv").write_text("10\t99\t1\n"),
            r"qrels/test.tsv:1: document '99' is not in corpus.jsonl.gz",
        ),
        (
            lambda f: (f / "qrels" / "test.tsv").write_text("77\t1\t1\n"),
            r"qrels/test.tsv:1: unknown query id '77'",
        ),
        (
            lambda f: (f / "qrels" / "test.tsv").write_text("h\th\th\n10\t1\tx\n"),
            r"qrels/test.tsv:2: score 'x' is not a number",
        ),
        (lambda f: write_jsonl(f / "corpus.jsonl.gz", [], compress=True), r"corpus.jsonl.gz: no documents"),
        (lambda f: (f / "queries.jsonl").write_text("\n"), r"queries.jsonl: no queries"),
        (
            lambda f: (f / "queries.jsonl").write_text('{"_id": 10, "text": "x"}\n{oops\n'),
            r"queries.jsonl:2: not valid JSON",
        ),
        (lambda f: (f / "queries.jsonl").write_text('{"text": "x"}\n'), r'queries.jsonl:1: missing "_id"'),
        (
            lambda f: write_jsonl(
                f / "queries.jsonl", [{"_id": i, "text": x if i != 10 else " "} for i, x, _ in QUERIES]
            ),
            r"queries.jsonl:1: query '10' has no text",
        ),
        (
            lambda f: (f / "corpus.jsonl.gz").write_bytes(b"\x1f\x8b\x08\x00broken"),
            r"corpus.jsonl.gz: not a complete gzip file",
        ),
        (lambda f: (f / "corpus.jsonl.gz").unlink(), r"missing corpus.jsonl"),
    ],
)
def test_a_set_that_cannot_be_evaluated_fails_at_once(tmp_path: Path, damage: Any, message: str) -> None:
    folder = beir_folder(tmp_path / "set")
    damage(folder)
    started = time.perf_counter()
    with pytest.raises(QuerySetError, match=message) as caught:
        load_queryset(folder)
    assert time.perf_counter() - started < 1.0
    assert "\n" not in str(caught.value)


def test_folders_that_are_no_query_set_say_what_is_expected(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(
        QuerySetError, match=r"not a query set. Expected corpus.jsonl, queries.jsonl and qrels/<split>.tsv"
    ):
        load_queryset(tmp_path / "empty")
    with pytest.raises(QuerySetError, match=r"--subset 'de' chooses a subset of an MTEB task"):
        load_queryset(beir_folder(tmp_path / "beir"), subset="de")
    saved = tmp_path / "saved"
    saved.mkdir()
    (saved / "dataset_dict.json").write_text("{}")
    with pytest.raises(QuerySetError, match=r"save_to_disk folder \(Arrow files\).*to_json"):
        load_queryset(saved)


# ---- MTEB retrieval tasks on disk ---------------------------------------------------------------


def _records() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    corpus = [{"_id": f"d{i}", "title": t, "text": x} for i, t, x, _ in DOCS]
    queries = [{"_id": f"q{i}", "text": x} for i, x, _ in QUERIES]
    qrels = [
        {"query-id": "q10", "corpus-id": "d1", "score": 1},
        {"query-id": "q11", "corpus-id": "d2", "score": 1},
    ]
    return corpus, queries, qrels


def _parquet(path: Path, records: list[dict[str, Any]]) -> None:
    import pandas as pd

    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame.from_records(records).to_parquet(path)


def _parquet_engine() -> bool:
    for module in ("pyarrow", "fastparquet"):
        try:
            __import__(module)
            return True
        except ImportError:
            continue
    return False


needs_parquet = pytest.mark.skipif(not _parquet_engine(), reason="no Parquet engine (pyarrow or fastparquet)")


@needs_parquet
def test_mteb_task_as_parquet_with_default_file_names(tmp_path: Path) -> None:
    """What push_to_hub writes: <config>/<split>-00000-of-00001.parquet, the qrels config in data/."""
    corpus, queries, qrels = _records()
    root = tmp_path / "XQuADRetrieval"
    _parquet(root / "corpus" / "test-00000-of-00001.parquet", corpus)
    _parquet(root / "queries" / "test-00000-of-00001.parquet", queries)
    _parquet(root / "data" / "test-00000-of-00001.parquet", qrels)
    qs = load_queryset(root)
    assert qs.metadata["layout"] == "MTEB"
    assert qs.metadata["files"] == (
        "corpus/test-00000-of-00001.parquet, queries/test-00000-of-00001.parquet, data/test-00000-of-00001.parquet"
    )
    assert {q: dict(j) for q, j in qs.qrels.items()} == {"q10": {"d1": 1}, "q11": {"d2": 1}}
    assert qs.queries["q10"].language == "de" and qs.corpus["d2"].language == "en"
    with pytest.raises(
        QuerySetError, match=r"no default \(qrels\) data for split 'dev' \(splits here: test\)"
    ):
        load_queryset(root, split="dev")


def test_mteb_multilingual_task_from_its_dataset_card(tmp_path: Path) -> None:
    """Subsets declared in the README's configs block, as JSON lines; the subset must be chosen."""
    corpus, queries, qrels = _records()
    root = tmp_path / "task"
    for lang in ("de", "en"):
        (root / lang).mkdir(parents=True)
        write_jsonl(root / lang / "corpus.jsonl", corpus)
        write_jsonl(root / lang / "queries.jsonl", queries)
        write_jsonl(root / lang / "qrels-test.jsonl", qrels[:1] if lang == "de" else qrels)
    configs = "".join(
        f"- config_name: {lang}-{kind}\n  data_files:\n  - split: {split}\n    path: {lang}/{file}\n"
        for lang in ("de", "en")
        for kind, split, file in (
            ("corpus", "corpus", "corpus.jsonl"),
            ("queries", "queries", "queries.jsonl"),
            ("qrels", "test", "qrels-test.jsonl"),
        )
    )
    (root / "README.md").write_text(f"---\nconfigs:\n{configs}---\n# A task\n", encoding="utf-8")
    with pytest.raises(QuerySetError, match=r"an MTEB task with subsets de, en; choose one with --subset"):
        load_queryset(root)
    with pytest.raises(QuerySetError, match=r"no subset 'fr' \(subsets here: de, en\)"):
        load_queryset(root, subset="fr")
    qs = load_queryset(root, subset="en")
    assert qs.name == "task/en" and qs.metadata["subset"] == "en"
    assert qs.metadata["files"] == "en/corpus.jsonl, en/queries.jsonl, en/qrels-test.jsonl"
    assert len(qs.qrels) == 2 and len(load_queryset(root, subset="de").qrels) == 1


def test_parquet_without_an_engine_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "task"
    for config in ("corpus", "queries", "data"):
        (root / config).mkdir(parents=True)
        (root / config / "test-00000-of-00001.parquet").write_bytes(b"PAR1")
    for module in ("pyarrow", "pyarrow.parquet", "fastparquet"):
        monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    with pytest.raises(QuerySetError, match=r"reading Parquet needs pyarrow \(pip install pyarrow\)"):
        load_queryset(root)
