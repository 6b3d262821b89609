"""Which files make up a query set on disk, whatever layout it comes in.

The readers of each layout (search.evaluation.beir, search.evaluation.mteb) only
find files and name them; reading and validating the records is the same for all
(search.evaluation.querysets).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from search.core.errors import QuerySetError
from search.evaluation.records import JSONL_SUFFIXES, PARQUET_SUFFIXES, TSV_SUFFIXES

DEFAULT_SPLIT = "test"
# Hugging Face shard names: "test-00000-of-00001.parquet", or a bare split name: "test.jsonl".
_SHARD = re.compile(r"^(?P<split>.+?)(?:-\d{5}-of-\d{5})?(?P<suffix>\.[A-Za-z.]+)$")


@dataclass(frozen=True)
class QuerySetFiles:
    """The corpus, queries and qrels files of one query set (several files each for sharded sets)."""

    folder: Path
    layout: str  # what the folder was recognised as, for the report: "BEIR", "MTEB", ...
    corpus: tuple[Path, ...]
    queries: tuple[Path, ...]
    qrels: tuple[Path, ...]
    split: str | None = None  # None: the layout has no splits (a top-level qrels.tsv)
    subset: str | None = None  # an MTEB task's subset (e.g. a language pair)

    def label(self, path: Path) -> str:
        """A file as error messages and reports name it: relative to the query set folder."""
        try:
            return path.relative_to(self.folder).as_posix()
        except ValueError:
            return str(path)

    def describe(self) -> str:
        """``corpus.jsonl.gz, queries.jsonl, qrels/test.tsv``: what was read, for the report."""
        return ", ".join(self.label(p) for p in (*self.corpus, *self.queries, *self.qrels))


def split_of(path: Path) -> str | None:
    """The split a data file holds by its name (``test-00000-of-00001.parquet`` -> ``test``)."""
    match = _SHARD.match(path.name)
    if match is None or not match["suffix"].lower().endswith(
        (*JSONL_SUFFIXES, *TSV_SUFFIXES, *PARQUET_SUFFIXES)
    ):
        return None
    return match["split"]


def by_split(paths: list[Path]) -> dict[str, tuple[Path, ...]]:
    """Data files grouped by the split their names give, each group in name order."""
    out: dict[str, list[Path]] = {}
    for path in sorted(paths):
        split = split_of(path)
        if split is not None and not path.name.startswith("."):
            out.setdefault(split, []).append(path)
    return {split: tuple(files) for split, files in out.items()}


def choose_split(
    splits: dict[str, tuple[Path, ...]], split: str, what: str, folder: Path, strict: bool
) -> tuple[Path, ...]:
    """The requested split's files; a corpus or queries subset with a single split serves every split
    (MTEB's rule). ``strict`` (qrels): the split must exist, and the error lists the ones that do."""
    if split in splits:
        return splits[split]
    if not strict and len(splits) == 1:
        return next(iter(splits.values()))
    known = ", ".join(sorted(splits)) or "none"
    raise QuerySetError(
        f"{folder}: no {what} for split {split!r} (splits here: {known}); choose one with --split."
    )
