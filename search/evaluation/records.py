"""Records from the files query sets come in: JSON lines (plain or gzip), qrels TSV, Parquet.

Each reader yields ``(where, record)``, ``where`` naming the file and line (or row)
for error messages, so a bad line anywhere in a million-line corpus is reported
as ``corpus.jsonl.gz:81234: ...``. Nothing here knows what a corpus or a query is.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

from search.core.errors import QuerySetError

Record = Mapping[str, Any]
JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".json.gz", ".ndjson")
TSV_SUFFIXES = (".tsv", ".tsv.gz", ".txt", ".txt.gz")
PARQUET_SUFFIXES = (".parquet",)
RECORD_SUFFIXES = (*JSONL_SUFFIXES, *PARQUET_SUFFIXES)
QRELS_FIELDS = ("query-id", "corpus-id", "score")


def read_records(path: Path, label: str) -> Iterator[tuple[str, Record]]:
    """JSON objects of a JSON-lines file (gzip by suffix) or rows of a Parquet file; ``label`` names it."""
    name = path.name.lower()
    if name.endswith(PARQUET_SUFFIXES):
        yield from _parquet(path, label)
    else:
        yield from _jsonl(path, label)


def read_qrels(path: Path, label: str) -> Iterator[tuple[str, str, str, str]]:
    """``(where, query id, corpus id, raw score)`` per judgement, from any qrels file.

    TSV (BEIR: a ``query-id corpus-id score`` header, then tab-separated rows; TREC's
    four columns ``query-id iteration corpus-id score`` are read too), or records with
    ``query-id``/``corpus-id``/``score`` fields (MTEB's JSON lines and Parquet).
    """
    if path.name.lower().endswith(TSV_SUFFIXES):
        yield from _qrels_tsv(path, label)
        return
    for where, record in read_records(path, label):
        missing = [f for f in QRELS_FIELDS if record.get(f) is None]
        if missing:
            raise QuerySetError(
                f"{where}: missing {', '.join(repr(f) for f in missing)} (expected {QRELS_FIELDS})"
            )
        yield where, id_text(record["query-id"]), id_text(record["corpus-id"]), str(record["score"])


def id_text(value: object) -> str:
    """An id as text: integer ids stay integers even where a Parquet column made them floats (5.0 -> "5")."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _open_text(path: Path) -> IO[str]:
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8")
    return path.open(encoding="utf-8")


def _lines(path: Path, label: str) -> Iterator[tuple[int, str]]:
    try:
        with _open_text(path) as handle:
            yield from enumerate(handle, 1)
    except UnicodeDecodeError as exc:
        raise QuerySetError(f"{label}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except (gzip.BadGzipFile, EOFError) as exc:
        raise QuerySetError(f"{label}: not a complete gzip file ({exc})") from None


def _jsonl(path: Path, label: str) -> Iterator[tuple[str, Record]]:
    for number, line in _lines(path, label):
        if not line.strip():
            continue
        where = f"{label}:{number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise QuerySetError(f"{where}: not valid JSON ({exc.msg})") from None
        if not isinstance(record, dict):
            raise QuerySetError(f"{where}: expected a JSON object")
        yield where, record


def _qrels_tsv(path: Path, label: str) -> Iterator[tuple[str, str, str, str]]:
    for number, line in _lines(path, label):
        if not line.strip():
            continue
        cells = [c.strip() for c in (line.split("\t") if "\t" in line else line.split())]
        where = f"{label}:{number}"
        if len(cells) == 4:  # TREC: query-id, iteration (unused), corpus-id, score
            cells = [cells[0], cells[2], cells[3]]
        if len(cells) != 3:
            raise QuerySetError(f"{where}: expected 'query-id<TAB>corpus-id<TAB>score'")
        if number == 1 and not _is_number(cells[2]):
            continue  # the header
        yield where, cells[0], cells[1], cells[2]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _parquet(path: Path, label: str) -> Iterator[tuple[str, Record]]:
    """Row by row through pyarrow, or fastparquet when that is what is installed."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        pq = None
    if pq is not None:
        try:
            table = pq.read_table(path)
        except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a damaged file
            raise QuerySetError(f"{label}: not a readable Parquet file ({exc})") from None
        row = 0
        for batch in table.to_batches(max_chunksize=10_000):  # slices: never the whole file as objects twice
            for record in batch.to_pylist():
                row += 1
                yield f"{label}:row {row}", record
        return
    try:
        import fastparquet
    except ImportError:
        raise QuerySetError(
            f"{label}: reading Parquet needs pyarrow (pip install pyarrow), which is not installed; "
            "or export the subsets as JSON lines (corpus.jsonl, queries.jsonl, qrels/<split>.jsonl)."
        ) from None
    try:
        frame = fastparquet.ParquetFile(str(path)).to_pandas()
    except Exception as exc:  # noqa: BLE001 - fastparquet raises several types for a damaged file
        raise QuerySetError(f"{label}: not a readable Parquet file ({exc})") from None
    for row, record in enumerate(frame.to_dict("records"), 1):
        yield f"{label}:row {row}", record
