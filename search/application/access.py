"""What a browser user may make this server read or write.

The web UI can be reached by anyone who can reach its port, so a folder typed
into it is only indexed when it resolves (symlinks followed, ``..`` collapsed)
inside one of the configured allowed roots, and uploads are size-checked and
copied, with their directory parts stripped, into a folder of their own below
the uploads folder, within a quota for all uploads. What a browser may open is
search.application.documents' business.
"""

from __future__ import annotations

import contextlib
import re
import secrets
import shutil
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from search.core.errors import InvalidCollectionNameError, NotAllowedError
from search.core.formats import FORMATS
from search.stores.common import validate_collection_name

MAX_PATH_CHARS = 4096
SUPPORTED_SUFFIXES = FORMATS  # file suffix -> format, what uploads and folders may hold


def is_inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def resolve_allowed_folder(raw: str, roots: Sequence[Path]) -> Path:
    """The real folder ``raw`` names, if it lies inside an allowed root; relative paths start at the first root."""
    text = (raw or "").strip()
    if not roots:
        raise NotAllowedError(
            "Indexing folders from the browser is off: no allowed folders are configured. "
            "Start the app with --allow-root DIR (repeatable), or upload files below."
        )
    if not text:
        raise NotAllowedError("Enter a folder path.")
    if len(text) > MAX_PATH_CHARS or any(unicodedata.category(ch) == "Cc" for ch in text):
        raise NotAllowedError("That is not a valid folder path.")
    real_roots = [Path(root).expanduser().resolve() for root in roots]
    candidate = Path(text).expanduser()
    if not candidate.is_absolute():
        candidate = real_roots[0] / candidate
    resolved = candidate.resolve()  # follows symlinks, so a link out of a root is caught here
    if not any(is_inside(resolved, root) for root in real_roots):
        allowed = ", ".join(str(root) for root in real_roots)
        raise NotAllowedError(f"Refused: {text!r} is outside the folders this server may index ({allowed}).")
    if not resolved.is_dir():
        raise NotAllowedError(f"Not a folder: {text!r}.")
    return resolved


def check_collection_name(name: str) -> str:
    """The stores' own naming rule (nothing that could leave the collections folder)."""
    try:
        return validate_collection_name((name or "").strip())
    except InvalidCollectionNameError as exc:
        raise NotAllowedError(str(exc)) from None


def safe_filename(name: str) -> str:
    """The last path component, without control characters or leading dots (the walker skips hidden files)."""
    base = re.split(r"[\\/]", name)[-1]
    base = "".join(ch for ch in base if unicodedata.category(ch)[0] != "C").strip().lstrip(".")
    return base[:200] or "upload"


@dataclass(frozen=True)
class SavedUploads:
    saved: tuple[str, ...]  # file names now in this upload's folder
    refused: tuple[tuple[str, str], ...]  # (file name, reason)
    folder: Path | None = None  # this upload's own folder below the uploads folder; None: nothing saved


def save_uploads(
    files: Sequence[str | Path], uploads: Path, max_bytes: int, quota_bytes: int | None = None
) -> SavedUploads:
    """Copy uploaded temp files into a new folder of their own below ``uploads``, refusing oversize or
    unsupported files and whatever would take the uploads past ``quota_bytes`` in all.

    Each upload gets its own folder, indexed on its own: an upload never overwrites another
    caller's file of the same name, nor makes the run re-read every earlier upload. Two files of
    one name in the same upload (from different folders) are both kept, the second as ``name (2).ext``.
    """
    uploads.mkdir(parents=True, exist_ok=True)
    used = uploads_size(uploads) if quota_bytes is not None else 0
    folder: Path | None = None
    saved: list[str] = []
    refused: list[tuple[str, str]] = []
    for item in files:
        source = Path(item)
        name = _unused_name(safe_filename(_original_name(source)), saved)
        if Path(name).suffix.lower() not in FORMATS:
            refused.append((name, f"unsupported type (supported: {', '.join(sorted(FORMATS))})"))
            continue
        try:
            size = source.stat().st_size
        except OSError as exc:
            refused.append((name, f"unreadable upload: {exc.strerror or exc}"))
            continue
        if size > max_bytes:
            refused.append((name, f"too large: {size / 1e6:.1f} MB, the limit is {max_bytes / 1e6:.0f} MB"))
            continue
        if quota_bytes is not None and used + size > quota_bytes:
            refused.append(
                (name, f"the uploads folder is full ({quota_bytes / 1e6:.0f} MB for all uploads together)")
            )
            continue
        if folder is None:
            folder = _new_upload_folder(uploads)
        target = folder / name
        if not is_inside(target.resolve(), folder.resolve()):
            refused.append((name, "invalid file name"))
            continue
        shutil.copyfile(source, target)
        used += size
        saved.append(name)
    return SavedUploads(tuple(saved), tuple(refused), folder)


def uploads_size(uploads: Path) -> int:
    """Bytes of every file below the uploads folder (what the quota counts)."""
    total = 0
    for path in uploads.rglob("*"):
        try:
            if path.is_file() and not path.is_symlink():
                total += path.stat().st_size
        except OSError:
            continue
    return total


def tidy_upload(folder: Path, skipped: Sequence[str]) -> None:
    """After indexing an upload: its files the indexer skipped are deleted (they can never be found, and
    they count against the quota), and the folder with them when nothing is left."""
    for name in skipped:
        path = folder / name
        if path.parent == folder and path.is_file() and not path.is_symlink():
            path.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        if not any(folder.iterdir()):
            folder.rmdir()


def _new_upload_folder(uploads: Path) -> Path:
    """A fresh folder for one upload, named by time and chance (nothing a caller chooses)."""
    folder = uploads / f"{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(4)}"
    folder.mkdir(parents=True)
    return folder


def _unused_name(name: str, taken: Sequence[str]) -> str:
    """``name``, or ``stem (2).ext``, ``stem (3).ext``... when this upload already saved one by that name."""
    if name not in taken:
        return name
    path = Path(name)
    number = 2
    while (candidate := f"{path.stem} ({number}){path.suffix}") in taken:
        number += 1
    return candidate


def _original_name(path: Path) -> str:
    """Gradio keeps an upload's original name as the temp file's name."""
    return path.name
