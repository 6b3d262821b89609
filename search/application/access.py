"""What a browser user may make this server read or write.

The web UI can be reached by anyone who can reach its port, so a folder typed
into it is only indexed when it resolves (symlinks followed, ``..`` collapsed)
inside one of the configured allowed roots, and uploads are size-checked and
copied under a fixed folder with their directory parts stripped.
"""

from __future__ import annotations

import filecmp
import re
import shutil
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from indexer.extract.formats import FORMATS
from search.core.errors import InvalidCollectionNameError, NotAllowedError
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


FILE_ROUTE = "gradio_api/file="  # the web server's route for files under its allowed paths


def source_link(source: str, roots: Sequence[Path]) -> str | None:
    """A link that opens an indexed file in the browser, or None when it is not under ``roots``.

    The check follows symlinks (a link out of a root gets no link); the web server applies
    the same roots as its allowed paths, so a request crafted for any other file is refused there.
    """
    if not source or not roots:
        return None
    try:
        real = Path(source).resolve()
        inside = any(is_inside(real, Path(root).resolve()) for root in roots) and real.is_file()
    except (OSError, ValueError):
        return None
    return FILE_ROUTE + quote(str(real)) if inside else None


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
    saved: tuple[str, ...]  # file names now in the uploads folder
    refused: tuple[tuple[str, str], ...]  # (file name, reason)
    replaced: tuple[str, ...] = ()  # saved names that replaced an earlier, different upload of that name


def save_uploads(files: Sequence[str | Path], dest: Path, max_bytes: int) -> SavedUploads:
    """Copy uploaded temp files into ``dest`` (one flat folder), refusing oversize or unsupported files.

    Two files of one name in the same upload (from different folders) are both kept, the second
    as ``name (2).ext``; a file replacing an earlier upload of its name (an edited version, most
    likely) is listed in ``replaced`` so the page can say so.
    """
    dest.mkdir(parents=True, exist_ok=True)
    saved: list[str] = []
    refused: list[tuple[str, str]] = []
    replaced: list[str] = []
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
        target = dest / name
        if not is_inside(target.resolve(), dest.resolve()):
            refused.append((name, "invalid file name"))
            continue
        if target.is_file() and not filecmp.cmp(source, target, shallow=False):
            replaced.append(name)
        shutil.copyfile(source, target)
        saved.append(name)
    return SavedUploads(tuple(saved), tuple(refused), tuple(replaced))


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
