"""Records from the files query sets come in: JSON lines (plain or gzip), qrels TSV, Parquet.

Each reader yields ``(where, record)``, ``where`` naming the file and line (or row)
for error messages, so a bad line anywhere in a million-line corpus is reported
as ``corpus.jsonl.gz:81234: ...``. Nothing here knows what a corpus or a query is.
"""

from __future__ import annotations

import codecs
import gzip
import json
import zlib
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

# Limits on what one file of a query set may make this process hold, as the indexer has for documents
# (indexer/extract: 10 MB text files, zip archives at most 100:1). A query set is read whole into
# memory before a model is loaded, and the Evaluate tab reads any folder under an allowed root: a
# 4 MB gzip file holding one 4 GB line must be refused, not decompressed.
MB = 1024 * 1024
MAX_LINE_BYTES = 10 * MB  # one record (a document) per line; BEIR documents are a few KB
MAX_GZIP_RATIO = 100  # decompressed / compressed; JSON lines of text compress about 3-5:1
GZIP_RATIO_FLOOR = 64 * MB  # small, very repetitive files compress harmlessly beyond the ratio
MAX_PARQUET_BYTES = 4096 * MB  # uncompressed size a Parquet file's metadata may declare


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


def _open_bytes(path: Path) -> IO[bytes]:
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rb")  # type: ignore[return-value]  # a GzipFile reads bytes
    return path.open("rb")


def _lines(path: Path, label: str) -> Iterator[tuple[int, str]]:
    """The file's lines, decoded, one at a time: each at most MAX_LINE_BYTES, a gzip file's whole at most
    MAX_GZIP_RATIO times its size (past GZIP_RATIO_FLOOR). A UTF-8 byte-order mark is skipped."""
    compressed = path.name.lower().endswith(".gz")
    budget = max(GZIP_RATIO_FLOOR, MAX_GZIP_RATIO * path.stat().st_size) if compressed else None
    read = 0
    try:
        with _open_bytes(path) as handle:
            number = 0
            while raw := handle.readline(MAX_LINE_BYTES + 1):
                number += 1
                read += len(raw)
                if len(raw) > MAX_LINE_BYTES:
                    raise QuerySetError(
                        f"{label}:{number}: a line longer than {MAX_LINE_BYTES // MB} MB (the limit for one "
                        "record); not read"
                    )
                if budget is not None and read > budget:
                    raise QuerySetError(
                        f"{label}: decompresses to more than {MAX_GZIP_RATIO} times its size (a gzip bomb?); "
                        "not read"
                    )
                if number == 1 and raw.startswith(codecs.BOM_UTF8):
                    raw = raw[len(codecs.BOM_UTF8) :]
                try:
                    yield number, raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    raise QuerySetError(
                        f"{label}:{number}: not UTF-8 text ({exc.reason} at byte {exc.start} of the line)"
                    ) from None
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
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
            declared = pq.ParquetFile(path).metadata
            size = sum(declared.row_group(i).total_byte_size for i in range(declared.num_row_groups))
        except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for a damaged file
            raise QuerySetError(f"{label}: not a readable Parquet file ({exc})") from None
        if size > MAX_PARQUET_BYTES:
            raise QuerySetError(
                f"{label}: declares {size / MB:.0f} MB of uncompressed data (the limit is "
                f"{MAX_PARQUET_BYTES // MB} MB); not read"
            )
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
