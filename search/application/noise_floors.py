"""Each collection's noise floor (search/retrieval/relevance.py), kept on disk next to the index.

Measuring it embeds a dozen probe queries and searches them: ~0.4 s, which a cold
``app.py search`` would pay on every run. The file is keyed by what changes the floor
(the collection's description and its size) and rewritten when either changes.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

from search.retrieval.relevance import PROBES, NoiseFloor
from search.stores.base import CollectionMeta

FOLDER = "noise-floors"


def floor_key(meta: CollectionMeta, chunks: int) -> str:
    text = json.dumps({"meta": meta.to_json(), "chunks": chunks, "probes": PROBES}, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _path(data_dir: Path, collection: str) -> Path:
    return Path(data_dir) / FOLDER / f"{collection}.json"


def read_floor(data_dir: Path, collection: str, key: str) -> NoiseFloor | None:
    try:
        data = json.loads(_path(data_dir, collection).read_text(encoding="utf-8"))
        if data.get("key") != key:
            return None
        centroid = data.get("centroid")
        return NoiseFloor(
            float(data["mean"]),
            float(data["spread"]),
            np.asarray(centroid, dtype=np.float32) if centroid else None,
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None  # missing or unreadable: measured again


def write_floor(data_dir: Path, collection: str, key: str, floor: NoiseFloor) -> None:
    path = _path(data_dir, collection)
    data = {
        "key": key,
        "mean": floor.mean,
        "spread": floor.spread,
        "centroid": [round(float(v), 6) for v in floor.centroid] if floor.centroid is not None else None,
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(data), encoding="utf-8")
        os.replace(temporary, path)
    except OSError:
        pass  # a read-only data folder: measured again next time
