"""Labeled query sets on disk: BEIR folders, MTEB retrieval tasks, this project's own layout.

Recognised layouts (search.evaluation.beir, search.evaluation.mteb find the files):

* BEIR: ``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv`` (``--split``, default test);
  any of them gzip-compressed (``.jsonl.gz``), qrels also as JSON lines or Parquet;
* this project's: the same with one ``qrels.tsv`` at the top, plus an optional
  ``queryset.json`` (``name``, ``description``); what ``save_queryset`` writes;
* MTEB: a Hugging Face retrieval dataset with ``corpus``, ``queries`` and ``default``
  (qrels) subsets as Parquet or JSON lines, per split (``--subset`` for multilingual tasks).

Records: documents ``{"_id" (or "id"), "title", "text"}``, queries ``{"_id", "text"}``;
ids may be numbers; extra fields are ignored; an optional ``language`` (ISO 639-1) is
kept, and where it is missing the language is detected (search.evaluation.languages).
Qrels: ``query-id``, ``corpus-id``, ``score`` (> 0 = relevant).

Everything is validated here, before any model is loaded: a set that cannot be
evaluated (empty files, a header-only qrels, judgements of unknown ids, no relevant
document at all) fails at once with a one-line message naming the file and line.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from search.core.display import excerpt
from search.core.errors import QuerySetError
from search.core.types import UNDETERMINED, CorpusDoc, Query, QuerySet
from search.evaluation.beir import beir_files
from search.evaluation.languages import DOCUMENT_LANGUAGES, QUERY_LANGUAGES, fill_languages
from search.evaluation.layout import DEFAULT_SPLIT, QuerySetFiles
from search.evaluation.mteb import mteb_files
from search.evaluation.records import id_text, read_qrels, read_records

CORPUS_FILE = "corpus.jsonl"
QUERIES_FILE = "queries.jsonl"
QRELS_FILE = "qrels.tsv"
INFO_FILE = "queryset.json"
QRELS_HEADER = "query-id\tcorpus-id\tscore"
# QuerySet.metadata keys that say where the numbers come from; the report repeats them.
SOURCE_KEYS = ("layout", "files", "split", "subset", QUERY_LANGUAGES, DOCUMENT_LANGUAGES)
# Relevance grades are small integers (BEIR and TREC use 0-4, some sets -2 for spam); anything else is a
# mistake (a float column, a misplaced field), and ranx's 2^grade - 1 gain overflows past ~1000.
MIN_GRADE, MAX_GRADE = -10, 100


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def load_queryset(
    folder: Path | str,
    name: str | None = None,
    *,
    split: str = DEFAULT_SPLIT,
    subset: str | None = None,
    detect_languages: bool = True,
) -> QuerySet:
    """Read and validate a query set folder in any recognised layout; qrels must point at known ids.

    ``split`` chooses the qrels of a BEIR or MTEB set; ``subset`` an MTEB task's subset.
    Missing languages of judged queries and relevant documents are detected unless
    ``detect_languages`` is off (then they stay "und").
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise QuerySetError(f"not a query set folder: {folder}")
    files = find_queryset_files(folder, split, subset)
    _check_inside(files, folder / INFO_FILE)
    info = _read_info(folder / INFO_FILE)
    raw = _read(files)
    metadata = {
        "folder": folder.resolve().as_posix(),
        "layout": files.layout,
        "files": files.describe(),
        **({"split": files.split} if files.split else {}),
        **({"subset": files.subset} if files.subset else {}),
    }
    default_name = folder.name + (f"/{files.subset}" if files.subset else "")
    queryset = QuerySet(
        name=name or str(info.get("name") or default_name),
        corpus=raw.corpus,
        queries=raw.queries,
        qrels=raw.qrels,
        description=str(info.get("description") or ""),
        metadata=metadata,
    )
    if not detect_languages:
        return queryset
    origins = (", ".join(map(files.label, files.queries)), ", ".join(map(files.label, files.corpus)))
    return fill_languages(queryset, raw.unlabelled_queries, raw.unlabelled_documents, origins)


def find_queryset_files(folder: Path, split: str = DEFAULT_SPLIT, subset: str | None = None) -> QuerySetFiles:
    """Which files make up the query set in ``folder``; a clear error when it is none of the layouts."""
    if subset:
        found = mteb_files(folder, split, subset)
        if found is None:
            raise QuerySetError(
                f"{folder}: --subset {subset!r} chooses a subset of an MTEB task, and this folder is not one."
            )
        return found
    found = beir_files(folder, split) or mteb_files(folder, split)
    if found is None:
        raise QuerySetError(
            f"{folder}: not a query set. Expected corpus.jsonl, queries.jsonl and qrels/<split>.tsv (BEIR), "
            "or an MTEB retrieval task (corpus, queries and qrels subsets as Parquet or JSON lines)."
        )
    return found


@dataclass
class _Raw:
    corpus: dict[str, CorpusDoc] = field(default_factory=dict)
    queries: dict[str, Query] = field(default_factory=dict)
    qrels: dict[str, dict[str, int]] = field(default_factory=dict)
    unlabelled_queries: set[str] = field(default_factory=set)
    unlabelled_documents: set[str] = field(default_factory=set)


def _read(files: QuerySetFiles) -> _Raw:
    raw = _Raw()
    for path in files.corpus:
        for where, record in read_records(path, files.label(path)):
            doc_id = _required_id(record, where)
            if doc_id in raw.corpus:
                raise QuerySetError(f"{where}: duplicate document id {excerpt(doc_id)}")
            language = _text(record.get("language"))
            if not language:
                raw.unlabelled_documents.add(doc_id)
            raw.corpus[doc_id] = CorpusDoc(
                doc_id=doc_id,
                text=_text(record.get("text")),
                title=_text(record.get("title")),
                language=language or UNDETERMINED,
            )
    if not raw.corpus:
        raise QuerySetError(f"{_names(files, files.corpus)}: no documents")
    empty_queries: dict[str, str] = {}
    for path in files.queries:
        for where, record in read_records(path, files.label(path)):
            qid = _required_id(record, where)
            if qid in raw.queries:
                raise QuerySetError(f"{where}: duplicate query id {excerpt(qid)}")
            text = _text(record.get("text")).strip()
            if not text:
                empty_queries[qid] = where  # an error only if the query is judged
            language = _text(record.get("language"))
            if not language:
                raw.unlabelled_queries.add(qid)
            raw.queries[qid] = Query(qid=qid, text=text, language=language or UNDETERMINED)
    if not raw.queries:
        raise QuerySetError(f"{_names(files, files.queries)}: no queries")
    judgements = 0
    for path in files.qrels:
        label = files.label(path)
        for where, qid, doc_id, grade in read_qrels(path, label):
            judgements += 1
            score = _grade(grade, where)
            if qid not in raw.queries:
                raise QuerySetError(f"{where}: unknown query id {excerpt(qid)}")
            if doc_id not in raw.corpus:
                raise QuerySetError(
                    f"{where}: document {excerpt(doc_id)} is not in {_names(files, files.corpus)}"
                )
            if score > 0:
                raw.qrels.setdefault(qid, {})[doc_id] = score
    qrels_names = _names(files, files.qrels)
    if not judgements:
        raise QuerySetError(f"{qrels_names}: no judgements (an empty file, or only a header)")
    if not raw.qrels:
        raise QuerySetError(f"{qrels_names}: no query has a relevant document (every score is 0 or less)")
    for qid, where in empty_queries.items():
        if qid in raw.qrels:
            raise QuerySetError(f"{where}: query {excerpt(qid)} has no text")
    return raw


def _grade(raw: str, where: str) -> int:
    """A judgement's relevance grade: a whole number between MIN_GRADE and MAX_GRADE ("2" or "2.0")."""
    try:
        value = float(raw)
    except ValueError:
        raise QuerySetError(f"{where}: score {excerpt(raw)} is not a number") from None
    if not value.is_integer():  # also NaN and infinities
        raise QuerySetError(f"{where}: score {excerpt(raw)} is not a whole number (grades are 0, 1, 2, ...)")
    if not MIN_GRADE <= value <= MAX_GRADE:
        raise QuerySetError(
            f"{where}: score {excerpt(raw)} is outside {MIN_GRADE}..{MAX_GRADE} (grades are small integers)"
        )
    return int(value)


def _check_inside(files: QuerySetFiles, *others: Path) -> None:
    """Every file read must lie in the query set folder once symlinks are followed: a link to a key
    file or another user's data is refused unread (the Evaluate tab reads folders under allowed roots,
    and error messages quote what they read)."""
    root = os.path.realpath(files.folder)
    for path in (*files.corpus, *files.queries, *files.qrels, *others):
        if not os.path.lexists(path):
            continue
        real = os.path.realpath(path)
        if real != root and not real.startswith(root.rstrip("/") + "/"):
            raise QuerySetError(
                f"{files.label(path)}: a symlink to a place outside the query set folder; not read"
            )


def _names(files: QuerySetFiles, paths: Iterable[Path]) -> str:
    return ", ".join(files.label(p) for p in paths)


def _text(value: object) -> str:
    """A field as text: numbers as written, a missing value (None, NaN from a Parquet null) as ""."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def queryset_source(queryset: QuerySet) -> dict[str, str]:
    """What a report should say about where a query set came from (files, split, how languages were set)."""
    return {key: str(queryset.metadata[key]) for key in SOURCE_KEYS if queryset.metadata.get(key)}


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def save_queryset(qs: QuerySet, folder: Path | str) -> None:
    """Write ``qs`` in the layout ``load_queryset`` reads (qrels with score <= 0 are left out)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    corpus_lines = (
        {"_id": d.doc_id, "title": d.title, "text": d.text, "language": d.language}
        for d in qs.corpus.values()
    )
    query_lines = ({"_id": q.qid, "text": q.text, "language": q.language} for q in qs.queries.values())
    _write_jsonl(folder / CORPUS_FILE, corpus_lines)
    _write_jsonl(folder / QUERIES_FILE, query_lines)
    rows = [QRELS_HEADER]
    for qid, judged in qs.qrels.items():
        for doc_id, score in judged.items():
            if score > 0:
                rows.append(f"{qid}\t{doc_id}\t{int(score)}")
    (folder / QRELS_FILE).write_text("\n".join(rows) + "\n", encoding="utf-8")
    info_path = folder / INFO_FILE
    info = _read_info(info_path) if info_path.is_file() else {}
    info.update({"name": qs.name, "description": qs.description})
    info_path.write_text(json.dumps(info, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def _read_info(path: Path) -> dict[str, object]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise QuerySetError(f"{path}: not valid JSON ({exc})") from None
    return dict(data) if isinstance(data, dict) else {}


def _required_id(record: Mapping[str, object], where: str) -> str:
    """``_id`` (BEIR) or ``id`` (MTEB); numbers become their text, so qrels written either way match."""
    value = record.get("_id", record.get("id"))
    text = id_text(value) if _text(value) else ""
    if not text:
        raise QuerySetError(f'{where}: missing "_id"')
    return text


def _write_jsonl(path: Path, records: Iterable[Mapping[str, object]]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
