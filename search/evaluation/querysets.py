"""Labeled query sets on disk (BEIR layout).

A query set folder holds

* ``corpus.jsonl``: ``{"_id", "title", "text", "language"}`` per document,
* ``queries.jsonl``: ``{"_id", "text", "language"}`` per query (extra keys ignored),
* ``qrels.tsv``: a header line, then ``query-id<TAB>corpus-id<TAB>score`` (score > 0 = relevant),
* optionally ``queryset.json`` with a ``name`` and ``description``.

The same layout as BEIR so a query set can be evaluated by other tools too; a
language per query and per document is what the per-language breakdowns need.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from search.core.errors import QuerySetError
from search.core.types import UNDETERMINED, CorpusDoc, Query, QuerySet

CORPUS_FILE = "corpus.jsonl"
QUERIES_FILE = "queries.jsonl"
QRELS_FILE = "qrels.tsv"
INFO_FILE = "queryset.json"
QRELS_HEADER = "query-id\tcorpus-id\tscore"


# --------------------------------------------------------------------------------------------
# BEIR folders
# --------------------------------------------------------------------------------------------


def load_queryset(folder: Path | str, name: str | None = None) -> QuerySet:
    """Read a BEIR-style folder; qrels must point at known queries and documents."""
    folder = Path(folder)
    if not folder.is_dir():
        raise QuerySetError(f"not a query set folder: {folder}")
    missing = [f for f in (CORPUS_FILE, QUERIES_FILE, QRELS_FILE) if not (folder / f).is_file()]
    if missing:
        hint = ""
        if CORPUS_FILE in missing and (folder.parent / "build.py").is_file():
            hint = f" (generate it with: python {folder.parent / 'build.py'} --export-corpus)"
        raise QuerySetError(f"{folder}: missing {', '.join(missing)}{hint}")
    info = _read_info(folder / INFO_FILE)
    corpus: dict[str, CorpusDoc] = {}
    for where, record in _jsonl(folder / CORPUS_FILE):
        doc_id = _required_id(record, where)
        if doc_id in corpus:
            raise QuerySetError(f"{where}: duplicate document id {doc_id!r}")
        corpus[doc_id] = CorpusDoc(
            doc_id=doc_id,
            text=str(record.get("text") or ""),
            title=str(record.get("title") or ""),
            language=str(record.get("language") or UNDETERMINED),
        )
    queries: dict[str, Query] = {}
    for where, record in _jsonl(folder / QUERIES_FILE):
        qid = _required_id(record, where)
        if qid in queries:
            raise QuerySetError(f"{where}: duplicate query id {qid!r}")
        text = str(record.get("text") or "").strip()
        if not text:
            raise QuerySetError(f"{where}: query {qid!r} has no text")
        queries[qid] = Query(qid=qid, text=text, language=str(record.get("language") or UNDETERMINED))
    qrels = _read_qrels(folder / QRELS_FILE, queries, corpus)
    return QuerySet(
        name=name or str(info.get("name") or folder.name),
        corpus=corpus,
        queries=queries,
        qrels=qrels,
        description=str(info.get("description") or ""),
        metadata={"folder": folder.resolve().as_posix()},
    )


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


def _jsonl(path: Path) -> Iterator[tuple[str, Mapping[str, object]]]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            where = f"{path.name}:{number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise QuerySetError(f"{where}: not valid JSON ({exc.msg})") from None
            if not isinstance(record, dict):
                raise QuerySetError(f"{where}: expected a JSON object")
            yield where, record


def _required_id(record: Mapping[str, object], where: str) -> str:
    value = record.get("_id")
    if value is None or str(value) == "":
        raise QuerySetError(f'{where}: missing "_id"')
    return str(value)


def _read_qrels(
    path: Path, queries: Mapping[str, Query], corpus: Mapping[str, CorpusDoc]
) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        cells = line.split("\t") if "\t" in line else line.split()
        where = f"{path.name}:{number}"
        if len(cells) != 3:
            raise QuerySetError(f"{where}: expected 'query-id<TAB>corpus-id<TAB>score'")
        qid, doc_id, raw = (c.strip() for c in cells)
        try:
            score = int(float(raw))
        except ValueError:
            if number == 1:  # the header
                continue
            raise QuerySetError(f"{where}: score {raw!r} is not a number") from None
        if qid not in queries:
            raise QuerySetError(f"{where}: unknown query id {qid!r}")
        if doc_id not in corpus:
            raise QuerySetError(f"{where}: document {doc_id!r} is not in {CORPUS_FILE}")
        if score > 0:
            qrels.setdefault(qid, {})[doc_id] = score
    return qrels


def _write_jsonl(path: Path, records: Iterable[Mapping[str, object]]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
