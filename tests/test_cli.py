"""The CLI's must-show path with the real default model: index, search in German, re-index, edit.

A German query must bring up the relevant English, Chinese or Arabic passages
(relevance from sample_corpora/queryset/qrels.tsv); a second index run writes
nothing; editing one file re-indexes only that file. ``must_show`` is the check;
the default run applies it to a subset through the network-guarded app process
of test_network_guard.py, the slow test here runs ``python app.py`` as a user
would, on the whole sample corpus.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

import app

REPO = Path(__file__).resolve().parents[1]
DOCUMENTS = REPO / "sample_corpora" / "documents"
QUERYSET = REPO / "sample_corpora" / "queryset"
TARGET_LANGUAGES = ("en", "zh", "ar")
# German queries whose relevant documents include English, Chinese or Arabic ones.
FULL_QUERIES = ("q062", "q076", "q085", "q096")  # cycling (en), vaccines, Apollo 11, batteries (en)
EDITED = "misc/en-solar-eclipse-viewing.txt"
ADDED_TEXT = "\n\nA pinhole projector made from two sheets of card is the cheapest safe viewer of all.\n"

Runner = Callable[..., str]


def queries() -> tuple[dict[str, dict[str, str]], dict[str, dict[str, int]]]:
    qs = {}
    for line in (QUERYSET / "queries.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        qs[record["_id"]] = record
    qrels: dict[str, dict[str, int]] = defaultdict(dict)
    for line in (QUERYSET / "qrels.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        qid, doc, grade = line.split("\t")
        qrels[qid][doc] = int(grade)
    return qs, qrels


def check_german_query(hits: list[Mapping[str, object]], relevant: Mapping[str, int], qid: str) -> None:
    """A relevant en/zh/ar document in the top 3, and most of the top 5 relevant."""
    sources = [str(hit["source"]) for hit in hits]
    wanted = {doc for doc in relevant if Path(doc).name.split("-")[0] in TARGET_LANGUAGES}
    assert wanted, f"{qid}: the query set has no en/zh/ar document for it"
    assert wanted & set(sources[:3]), f"{qid}: none of {sorted(wanted)} in the top 3: {sources}"
    assert sum(source in relevant for source in sources[:5]) >= 3, (
        f"{qid}: top 5 mostly irrelevant: {sources}"
    )


def must_show(run: Runner, corpus: Path, query_ids: tuple[str, ...], files: int) -> None:
    qs, qrels = queries()
    first = json.loads(run("index", str(corpus), "--json"))
    assert first["skipped"] == [] and len(first["indexed"]) == files and first["chunks_written"] > files

    for qid in query_ids:
        assert qs[qid]["language"] == "de"
        result = json.loads(run("search", qs[qid]["text"], "--json", "-k", "5"))
        assert [hit["rank"] for hit in result["hits"]] == [1, 2, 3, 4, 5]
        check_german_query(result["hits"], qrels[qid], qid)

    again = json.loads(run("index", str(corpus), "--json"))
    assert again["chunks_written"] == 0 and again["indexed"] == [] and again["unchanged"] == files

    with open(corpus / EDITED, "a", encoding="utf-8") as handle:
        handle.write(ADDED_TEXT)
    edited = json.loads(run("index", str(corpus), "--json"))
    assert edited["indexed"] == [EDITED] and edited["unchanged"] == files - 1 and edited["removed"] == []
    assert edited["chunks_written"] >= 1

    found = json.loads(run("search", "pinhole projector from two sheets of card", "--json", "-k", "1"))
    assert found["hits"][0]["source"] == EDITED and "pinhole" in found["hits"][0]["text"]
    listing = run("collections")
    assert "docs-multilingual-e5-small\tmultilingual-e5-small\t" in listing


def test_cli_errors_are_one_line_messages(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """No model needed: what a user sees for a missing folder or collection."""
    cache = tmp_path / "cache"
    common = ["--data-dir", str(tmp_path / "data"), "--cache-dir", str(cache)]
    assert app.main([*common, "index", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "not a folder" in err and "Traceback" not in err
    assert app.main([*common, "search", "Bienen"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "No collection" in err and "app.py index" in err
    assert not cache.exists() or not any(cache.iterdir()), "a model was loaded just to report an error"


def test_eval_of_a_broken_query_set_fails_before_any_model_is_loaded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A BEIR folder whose qrels/test.tsv is only a header: one line at once, no model work."""
    import time

    from tests.test_queryset_formats import beir_folder

    folder = beir_folder(tmp_path / "beir")
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n", encoding="utf-8")
    cache = tmp_path / "cache"
    common = ["--data-dir", str(tmp_path / "data"), "--cache-dir", str(cache)]
    started = time.perf_counter()
    assert app.main([*common, "eval", "--queries", str(folder)]) == 2
    assert time.perf_counter() - started < 5  # the store opens and the files are read; no model
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert err.startswith("error: ") and "qrels/test.tsv: no judgements" in err
    assert app.main([*common, "eval", "--queries", str(folder), "--split", "train"]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "no qrels file for split 'train' (splits here: dev, test); choose one with --split" in err
    assert not cache.exists() or not any(cache.iterdir()), "a model was loaded just to report an error"


@pytest.mark.slow
@pytest.mark.model
@pytest.mark.timeout(1800)  # several cold processes on a two-core machine
def test_cli_must_show_as_a_user_runs_it(bundled_model_cache: Path, tmp_path: Path) -> None:
    """``python app.py`` in separate processes, on the whole sample corpus."""
    corpus = tmp_path / "documents"
    shutil.copytree(DOCUMENTS, corpus)
    common = ["--data-dir", str(tmp_path / "data"), "--cache-dir", str(bundled_model_cache)]

    def run(*argv: str) -> str:
        done = subprocess.run(
            [sys.executable, str(REPO / "app.py"), *common, *argv],
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    must_show(run, corpus, FULL_QUERIES, files=sum(1 for _ in corpus.rglob("*.*")))


def test_models_lists_what_runs_here_like_ollama_list(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`models` and `models --json` need no network and load no model; the offline three are available."""
    common = ["--data-dir", str(tmp_path / "data"), "--cache-dir", str(tmp_path / "cache")]
    assert app.main([*common, "models", "--json"]) == 0
    listed = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    for row in listed.values():
        assert {"name", "family", "dimension", "languages", "source", "license", "available"} <= set(row)
    offline = {name for name, row in listed.items() if row["available"]}
    assert {"multilingual-e5-small", "use-multilingual-v3", "m2v-e5-small"} <= offline
    assert listed["use-multilingual-v3"]["family"] == "use" and listed["m2v-e5-small"]["dimension"] == 256
    assert app.main([*common, "models"]) == 0
    table = capsys.readouterr().out
    assert "use-multilingual-v3" in table and "m2v-e5-small" in table
    if not listed["BAAI/bge-m3"]["available"]:  # (unless this machine's hub cache holds it)
        assert "BAAI/bge-m3" not in table and "need a download" in table
        assert app.main([*common, "models", "--all-models"]) == 0
        assert "hf download BAAI/bge-m3" in capsys.readouterr().out
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())
