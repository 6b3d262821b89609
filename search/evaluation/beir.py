"""BEIR folders: ``corpus.jsonl``, ``queries.jsonl`` and ``qrels/<split>.tsv``.

Also read: this project's own layout (one ``qrels.tsv`` beside the two JSON-lines
files, what ``save_queryset`` writes and ``sample_corpora/queryset`` is), gzip
files (``corpus.jsonl.gz``) and qrels as JSON lines or Parquet (``qrels/test.jsonl``,
as some Hugging Face copies of BEIR sets have them).
"""

from __future__ import annotations

from pathlib import Path

from search.core.errors import QuerySetError
from search.evaluation.layout import QuerySetFiles, by_split, choose_split
from search.evaluation.records import JSONL_SUFFIXES, PARQUET_SUFFIXES, TSV_SUFFIXES

CORPUS = "corpus"
QUERIES = "queries"
QRELS = "qrels"
DATA_SUFFIXES = (*JSONL_SUFFIXES, *PARQUET_SUFFIXES)


def beir_files(folder: Path, split: str) -> QuerySetFiles | None:
    """The folder's files in BEIR (or this project's) layout, or None when it is not laid out so."""
    corpus = _data_file(folder, CORPUS, DATA_SUFFIXES)
    queries = _data_file(folder, QUERIES, DATA_SUFFIXES)
    top_qrels = _data_file(folder, QRELS, TSV_SUFFIXES)
    qrels_dir = folder / QRELS
    qrels: tuple[Path, ...]
    chosen: str | None
    if top_qrels is not None:
        layout, qrels, chosen = "BEIR with one qrels file", (top_qrels,), None
    elif qrels_dir.is_dir():
        splits = by_split([p for p in qrels_dir.iterdir() if p.is_file()])
        qrels, chosen, layout = choose_split(splits, split, "qrels file", folder, strict=True), split, "BEIR"
    elif corpus is not None or queries is not None:
        qrels, chosen, layout = (), split, "BEIR"
    else:
        return None
    missing = [
        name for name, found in ((f"{CORPUS}.jsonl", corpus), (f"{QUERIES}.jsonl", queries)) if found is None
    ]
    if not qrels:
        missing.append(f"{QRELS}/{split}.tsv")
    if missing:
        hint = ""
        if corpus is None and (folder.parent / "build.py").is_file():
            hint = f" (generate it with: python {folder.parent / 'build.py'} --export-corpus)"
        raise QuerySetError(f"{folder}: missing {', '.join(missing)}{hint}")
    assert corpus is not None and queries is not None
    return QuerySetFiles(folder, layout, (corpus,), (queries,), qrels, split=chosen)


def _data_file(folder: Path, stem: str, suffixes: tuple[str, ...]) -> Path | None:
    for suffix in suffixes:
        path = folder / f"{stem}{suffix}"
        if path.is_file():
            return path
    return None
