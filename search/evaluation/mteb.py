"""MTEB retrieval tasks on disk: a Hugging Face dataset with ``corpus``, ``queries`` and qrels subsets.

An MTEB retrieval dataset (what ``huggingface-cli download mteb/<task> --repo-type dataset``
or ``git clone`` puts on disk) has three configs, as mteb's ``RetrievalDatasetLoader``
reads them: ``corpus`` (``_id`` or ``id``, ``title``, ``text``), ``queries`` (``_id`` or
``id``, ``text``) and ``default`` (the qrels: ``query-id``, ``corpus-id``, ``score``; named
``qrels`` in some), one split per evaluation split. Multilingual tasks prefix them
with a subset: ``de-corpus``, ``de-queries``, ``de-qrels``. Where the files are is
declared in the README's ``configs:`` block; without one, Hugging Face's default
names are assumed: ``<config>/<split>-00000-of-00001.parquet``, ``data/`` for ``default``.

A ``datasets`` ``save_to_disk`` folder (Arrow files) is not read: it says so and how to
export it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from search.core.errors import QuerySetError
from search.evaluation.layout import QuerySetFiles, by_split, choose_split
from search.evaluation.records import RECORD_SUFFIXES

Configs = dict[str, dict[str, tuple[Path, ...]]]  # config name -> split -> files
_QRELS_CONFIGS = ("default", "qrels")
_QUERY_CONFIGS = ("queries", "query")
_DEFAULT_DIR = "data"  # where push_to_hub puts the "default" config


def mteb_files(folder: Path, split: str, subset: str | None = None) -> QuerySetFiles | None:
    """The folder's corpus, queries and qrels files as an MTEB retrieval task, or None when it is not one."""
    if (folder / "dataset_dict.json").is_file() or (folder / "state.json").is_file():
        raise QuerySetError(
            f"{folder} is a `datasets` save_to_disk folder (Arrow files), which is not read here. Export "
            "each subset as JSON lines or Parquet, e.g. ds['corpus'].to_json('corpus.jsonl'), "
            "ds['queries'].to_json('queries.jsonl'), qrels.to_csv('qrels/test.tsv', sep='\\t')."
        )
    configs = readme_configs(folder) or directory_configs(folder)
    if not configs:
        return None
    corpus_name, queries_names, qrels_names = _config_names(folder, configs, subset)
    corpus_splits = configs[corpus_name]
    queries_name = next((n for n in queries_names if n in configs), None)
    qrels_name = next((n for n in qrels_names if n in configs), None)
    if queries_name is None or qrels_name is None:
        missing = [
            f"a {what} subset ({' or '.join(names)})"
            for what, names, found in (
                ("queries", queries_names, queries_name),
                ("qrels", qrels_names, qrels_name),
            )
            if found is None
        ]
        raise QuerySetError(
            f"{folder}: an MTEB retrieval task needs {' and '.join(missing)}; found {sorted(configs)}."
        )
    return QuerySetFiles(
        folder,
        "MTEB",
        corpus=choose_split(corpus_splits, split, f"{corpus_name} data", folder, strict=False),
        queries=choose_split(configs[queries_name], split, f"{queries_name} data", folder, strict=False),
        qrels=choose_split(configs[qrels_name], split, f"{qrels_name} (qrels) data", folder, strict=True),
        split=split,
        subset=subset,
    )


def _config_names(
    folder: Path, configs: Configs, subset: str | None
) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    subsets = sorted(name[: -len("-corpus")] for name in configs if name.endswith("-corpus"))
    if subset is None:
        if "corpus" in configs:
            return "corpus", _QUERY_CONFIGS, _QRELS_CONFIGS
        if subsets:
            raise QuerySetError(
                f"{folder} holds an MTEB task with subsets {', '.join(subsets)}; choose one with --subset."
            )
        raise QuerySetError(f"{folder}: no corpus subset among {sorted(configs)}.")
    if f"{subset}-corpus" not in configs:
        raise QuerySetError(f"{folder}: no subset {subset!r} (subsets here: {', '.join(subsets) or 'none'}).")
    return f"{subset}-corpus", (f"{subset}-queries",), (f"{subset}-qrels",)


def directory_configs(folder: Path) -> Configs:
    """Configs by Hugging Face's default file names: one folder per config, files named by split."""
    configs: Configs = {}
    for entry in sorted(folder.iterdir()):
        if not entry.is_dir() or entry.name.startswith("."):
            continue
        files = [p for p in (*entry.glob("*"), *entry.glob("*/*")) if p.is_file() and _is_data(p)]
        splits = by_split(files)
        if splits:
            configs["default" if entry.name == _DEFAULT_DIR else entry.name] = splits
    return configs if "corpus" in configs or any(n.endswith("-corpus") for n in configs) else {}


def readme_configs(folder: Path) -> Configs:
    """The ``configs:`` block of the dataset card (README.md front matter), resolved to files on disk."""
    card = folder / "README.md"
    if not card.is_file():
        return {}
    text = card.read_text(encoding="utf-8", errors="replace")
    if not text.startswith("---"):
        return {}
    end = text.find("\n---", 3)
    if end < 0:
        return {}
    try:
        import yaml
    except ImportError:  # then the default file names are tried
        return {}
    try:
        header = yaml.safe_load(text[3:end])
    except yaml.YAMLError:
        return {}
    configs: Configs = {}
    entries = header.get("configs") if isinstance(header, Mapping) else None
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, Mapping) or not entry.get("config_name"):
            continue
        splits: dict[str, tuple[Path, ...]] = {}
        for split, patterns in _data_files(entry.get("data_files")).items():
            files = sorted({p for pattern in patterns for p in _glob(folder, pattern) if _is_data(p)})
            if files:
                splits[split] = tuple(files)
        if splits:
            configs[str(entry["config_name"])] = splits
    return configs


def _glob(folder: Path, pattern: str) -> list[Path]:
    """Files a card's pattern names inside ``folder``; an absolute or malformed pattern names none
    (load_queryset also refuses any file that resolves outside the folder)."""
    if Path(pattern).is_absolute():
        return []
    try:
        return [p for p in folder.glob(pattern) if p.is_file()]
    except (ValueError, NotImplementedError, OSError):
        return []


def _data_files(value: Any) -> dict[str, list[str]]:
    """``data_files`` in any of the card's spellings: a pattern, a list of them, or split/path entries."""
    if isinstance(value, str):
        return {"train": [value]}
    out: dict[str, list[str]] = {}
    for item in value if isinstance(value, list) else []:
        if isinstance(item, str):
            out.setdefault("train", []).append(item)
        elif isinstance(item, Mapping) and item.get("path"):
            paths = item["path"] if isinstance(item["path"], list) else [item["path"]]
            out.setdefault(str(item.get("split", "train")), []).extend(str(p) for p in paths)
    return out


def _is_data(path: Path) -> bool:
    return path.name.lower().endswith((*RECORD_SUFFIXES, ".tsv", ".tsv.gz")) and not path.name.startswith(".")
