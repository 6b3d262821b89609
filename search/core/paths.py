"""Where the app keeps converted models and index data, overridable by environment."""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "multilingual-search"


def default_cache_dir() -> Path:
    """Converted/downloaded models; safe to delete, rebuilt on demand."""
    env = os.environ.get("MLSEARCH_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / APP_NAME


def default_data_dir() -> Path:
    """Embedded vector store and app state; deleting it loses the indexes."""
    env = os.environ.get("MLSEARCH_DATA")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / APP_NAME
