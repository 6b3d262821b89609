"""Temporary folders beside the model cache, and the removal of those a dead process left behind.

Converting the bundled model or exporting a model to ONNX writes a private
temporary folder next to its destination and renames it into place. A process
killed meanwhile (Ctrl-C during the first launch, kill -9, a power cut) leaves
that folder behind, up to ~450 MB each time. Every temporary's name carries its
writer's pid, so a later start removes exactly those whose writer is gone and
never one another process is still writing.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

# .<destination name>.<pid>-<random><suffix>, as private_dir makes them
_OURS = re.compile(r"^\..+\.(\d+)-[^.]+\.(tmp|old)$")
# what versions before pids were recorded left: .<destination name>.<random>.tmp|.old, .int8.<random>
_LEGACY = re.compile(r"^\..+\.[^.]+\.(tmp|old)$|^\.int8\.[^.]+$")
LEGACY_AGE_S = 3600.0  # no pid to check: old enough that no conversion or export can still be running


_Marker = TypeVar("_Marker")


def read_marker(cls: type[_Marker], path: Path) -> _Marker | None:
    """A build's completion marker (a JSON object of ``cls``'s fields); None when it is missing, torn or
    from a version with other fields, which all mean "build again"."""
    try:
        fields: Any = json.loads(path.read_text(encoding="utf-8"))
        return cls(**fields)
    except (OSError, ValueError, TypeError):
        return None


def private_dir(parent: Path, name: str, suffix: str = ".tmp") -> Path:
    """A new private folder in ``parent`` for writing ``name``, recognisable as ours and as this pid's."""
    parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{name}.{os.getpid()}-", suffix=suffix, dir=parent))


def install_folder(tmp: Path, final: Path, finished: Callable[[], bool]) -> None:
    """Move a finished build from ``tmp`` into place as ``final``; a stale ``final`` is moved aside first.

    ``finished`` says whether ``final`` already holds a complete, current build: then another
    process finished first (nothing to do), or won the race to the rename (not an error).
    """
    if final.exists():
        if finished():
            return
        trash = private_dir(final.parent, final.name, suffix=".old")
        os.replace(final, trash / "model")
        shutil.rmtree(trash, ignore_errors=True)
    try:
        os.replace(tmp, final)
    except OSError:
        if not finished():  # lost a race to a writer that produced something else
            raise


def remove_stale_temporaries(parent: Path, *, now: float | None = None) -> list[Path]:
    """Remove temporaries in ``parent`` whose writer has died; returns what was removed."""
    try:
        entries = list(parent.iterdir())
    except OSError:
        return []
    now = time.time() if now is None else now
    removed = []
    for entry in entries:
        if not entry.name.startswith(".") or entry.is_symlink() or not entry.is_dir():
            continue
        ours = _OURS.match(entry.name)
        if ours is not None:
            stale = not _alive(int(ours.group(1)))
        elif _LEGACY.match(entry.name):
            stale = _age(entry, now) > LEGACY_AGE_S
        else:
            continue
        if stale:
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True  # another thread of this process may be writing it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    except OverflowError:
        return False
    return True


def _age(path: Path, now: float) -> float:
    try:
        return now - path.stat().st_mtime
    except OSError:
        return 0.0
