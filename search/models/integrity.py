"""Checksums of the model files the app builds itself, verified on every load for the cost of a ``stat``.

The converted default model and the ONNX exports live in the cache folder, where a bad disk, an
interrupted copy or anyone with write access can change bytes without changing the size or the
modification time (``touch -d`` puts that back). A model with a few KB of flipped weights still
loads and quietly computes different or NaN vectors, which then fill the index and answer every
search with nothing. So each build records the sha256 of its files (``checksums.json``), and each
load compares.

Hashing on every load is too slow for a cold command-line search: 0.3-0.6 s for the 470 MB
weights here, and the ONNX export has as much again. A file is therefore hashed once per
*stamp*: device, inode, size, modification time and change time (``st_ctime``). Every write to
a file and every ``utime`` on it set its change time to the current clock, and no call can set
it back, so a file whose stamp matches the one recorded after its last full check has not been
written since; only then is the hash skipped. Files built by earlier versions (no checksums yet)
get theirs recorded on first load. What a stamp cannot see is the disk itself returning
different bytes; the non-finite check on every output (search.models.encoders.transformers)
catches the damage that turns into NaN.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

CHECKSUMS_FILE = "checksums.json"
_BLOCK = 1 << 20


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def stamp_of(path: Path) -> list[int]:
    """What changes whenever the file's bytes (or its times) are changed: its identity, size and times."""
    st = os.stat(path)
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def _read(folder: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((folder / CHECKSUMS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("files"), dict) else None


def _write(folder: Path, data: dict[str, Any]) -> bool:
    """Atomically; False when the folder cannot be written (a read-only or full cache: hashed again next time)."""
    tmp = folder / f".{CHECKSUMS_FILE}.{os.getpid()}.tmp"
    try:
        tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
        os.replace(tmp, folder / CHECKSUMS_FILE)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        return False
    return True


def record(folder: Path, names: Iterable[str]) -> None:
    """Hash ``names`` (files of ``folder``) now, at build time, and keep their sums and stamps."""
    files = {name: {"sha256": sha256_of(folder / name), "stamp": stamp_of(folder / name)} for name in names}
    data = _read(folder) or {"files": {}}
    data["files"].update(files)
    if not _write(folder, data):
        log.warning("%s: could not record the model's checksums (read-only or full?)", folder)


def damaged(folder: Path, names: Iterable[str]) -> list[str]:
    """The files among ``names`` whose bytes differ from the checksums recorded at build ([] when all match).

    A file with the stamp of its last full check costs one ``stat``; any other is hashed and, when
    it matches, its new stamp kept. Missing files count as damaged; files without a recorded sum
    (a build of an earlier version) have theirs recorded now.
    """
    data = _read(folder) or {"files": {}}
    files: dict[str, Any] = data["files"]
    bad: list[str] = []
    changed = False
    for name in names:
        path = folder / name
        try:
            stamp = stamp_of(path)
        except OSError:
            bad.append(name)
            continue
        entry = files.get(name)
        if isinstance(entry, dict) and entry.get("stamp") == stamp and entry.get("sha256"):
            continue
        digest = sha256_of(path)
        if isinstance(entry, dict) and entry.get("sha256") and entry["sha256"] != digest:
            bad.append(name)
            continue
        files[name] = {"sha256": digest, "stamp": stamp}
        changed = True
    if changed and not bad:
        _write(folder, data)
    return bad


def remembered_sha256(path: Path, folder: Path, key: str) -> str:
    """sha256 of a file outside the cache (the bundled model's source in its package), hashed once per
    stamp and remembered in ``folder``'s checksums under ``key``."""
    stamp = stamp_of(path)
    data = _read(folder)
    entry = (data or {}).get("sources", {}).get(key) if data else None
    if isinstance(entry, dict) and entry.get("stamp") == stamp and entry.get("sha256"):
        return str(entry["sha256"])
    digest = sha256_of(path)
    if data is not None:
        data.setdefault("sources", {})[key] = {"sha256": digest, "stamp": stamp}
        _write(folder, data)
    return digest


def files_below(folder: Path, *, leave_out: Iterable[str] = ()) -> list[str]:
    """Every file of a built folder (relative POSIX names), except ``leave_out`` and the checksums."""
    skip = {CHECKSUMS_FILE, *leave_out}
    return sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if p.is_file() and not p.is_symlink() and p.relative_to(folder).as_posix() not in skip
    )


def recorded_names(folder: Path) -> list[str]:
    """The files whose checksums ``folder`` records."""
    data = _read(folder)
    return sorted(data["files"]) if data else []


def discard(folder: Path) -> None:
    """Move a damaged build out of the way (renamed first, so no reader sees it half deleted)."""
    import shutil
    import tempfile

    trash = Path(tempfile.mkdtemp(prefix=f".{folder.name}.{os.getpid()}-", suffix=".old", dir=folder.parent))
    os.replace(folder, trash / "damaged")
    shutil.rmtree(trash, ignore_errors=True)
