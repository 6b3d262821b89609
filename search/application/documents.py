"""What a browser may open: the source document of a search result, and how it is served.

A result links to ``documents/<collection>/<chunk id>``, never to a path on the server. The
server looks the chunk up in that collection and serves its source only when every check
holds: the chunk is stored there (so the file was indexed), the source is a file of an
indexable format below one of the folders the app serves (allowed roots, uploads, sample
documents) with no hidden part, and the file opened is that file: opened once, its descriptor
checked (a regular file whose real path, as the kernel reports it, is below the same folders),
and its bytes still those indexed (sha256 against the stored document hash, memoised per
inode and times). Nothing else is ever served: not hidden, ignored or unsupported files, not a
file that changed since it was indexed (hard link or symlink swapped in included).

How a format is served (``SERVED_TYPES``, one line per format): every response has
``X-Content-Type-Options: nosniff`` and a Content-Security-Policy with ``sandbox`` (an opaque
origin: nothing in a document runs in the app's origin, reads its cookies or calls its API) and
``default-src 'none'`` (no fetches, no scripts); HTML is rendered under that sandbox, text and
Markdown as plain text, PDF inline for the browser's viewer (a page is opened with
``#page=N``), office files, e-books and anything unknown as downloads.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import stat
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from search.application.ports import Indexer
from search.core.errors import AppError, InvalidCollectionNameError, NotAllowedError
from search.core.formats import format_of
from search.stores.base import VectorStore
from search.stores.common import validate_collection_name
from search.stores.payload import Field

DOCUMENT_ROUTE = "documents"  # the app's route: documents/<collection>/<chunk id>
_BLOCK = 1024 * 1024
_PROC_FD = Path("/proc/self/fd")
_VERIFIED_MEMO = 4096  # files whose bytes were checked against their indexed hash, by stamp


@dataclass(frozen=True)
class ServedType:
    media_type: str
    inline: bool  # shown by the browser; False: offered as a download


# By Document.format (indexer/extract/formats.py): a new format is one line here. Whatever the type,
# the sandboxing Content-Security-Policy and nosniff headers go with it (see module docstring).
SERVED_TYPES: dict[str, ServedType] = {
    "pdf": ServedType("application/pdf", inline=True),
    "html": ServedType("text/html", inline=True),  # rendered in the CSP sandbox: no script, no fetch
    "md": ServedType("text/plain", inline=True),
    "txt": ServedType("text/plain", inline=True),
    "docx": ServedType(
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document", inline=False
    ),
    "pptx": ServedType(
        "application/vnd.openxmlformats-officedocument.presentationml.presentation", inline=False
    ),
    "epub": ServedType("application/epub+zip", inline=False),
}
# Images (read by OCR) are one format; the browser shows those it can by their own type.
IMAGE_TYPES: dict[str, ServedType] = {
    ".png": ServedType("image/png", inline=True),
    ".jpg": ServedType("image/jpeg", inline=True),
    ".jpeg": ServedType("image/jpeg", inline=True),
    ".webp": ServedType("image/webp", inline=True),
    ".bmp": ServedType("image/bmp", inline=True),
    ".tif": ServedType("image/tiff", inline=False),  # browsers do not show TIFF: a download
    ".tiff": ServedType("image/tiff", inline=False),
}
UNKNOWN_TYPE = ServedType("application/octet-stream", inline=False)


def served_type(fmt: str, source: str) -> ServedType:
    """How a document of ``fmt`` named ``source`` is sent to the browser."""
    if fmt == "image":
        return IMAGE_TYPES.get(Path(source).suffix.lower(), UNKNOWN_TYPE)
    return SERVED_TYPES.get(fmt, UNKNOWN_TYPE)


_TEXT_TYPES = frozenset({"text/plain", "text/html"})  # served with the charset the file is in

# Every document response: no sniffing, an opaque sandboxed origin without scripts, no fetches,
# no framing by other sites, no referrer, not cached.
SANDBOX_POLICY = (
    "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; "
    "frame-ancestors 'self'; base-uri 'none'; form-action 'none'"
)
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": SANDBOX_POLICY,
    "Cross-Origin-Resource-Policy": "same-origin",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class DocumentNotFoundError(AppError, LookupError):
    """No such document to serve (unknown collection or chunk, or a source that is gone)."""


class DocumentChangedError(AppError):
    """The file is no longer the one indexed: index the folder again to open it."""


def document_link(collection: str, chunk_id: str, page: int | None = None, anchor: str | None = None) -> str:
    """The link that opens a result's source: no server path in it, only what the server looks up.

    ``page`` opens a PDF at that page (``#page=N``, what PDF viewers understand); ``anchor`` is any
    other fragment for formats that have one (it replaces the page fragment).
    """
    link = f"{DOCUMENT_ROUTE}/{quote(collection, safe='')}/{quote(chunk_id, safe='')}"
    if anchor:
        return f"{link}#{quote(anchor, safe='=:&~,-.')}"
    if page and page > 0:
        return f"{link}#page={int(page)}"
    return link


TEXT_FRAGMENT_WORDS = (
    8  # words of the passage a text fragment names: enough to be unique, few enough to match
)
# Formats the browser renders as text, where a text fragment (#:~:text=, Chromium, Safari, Firefox 131+)
# scrolls to the passage and marks it; PDFs open at the page instead.
TEXT_FRAGMENT_SUFFIXES = frozenset({".html", ".htm", ".xhtml", ".txt", ".md", ".markdown"})


def text_fragment(text: str) -> str | None:
    """The passage's first words as a text directive (``:~:text=…``), or None when it has no words.

    Each value is percent-encoded with ``-``, ``,`` and ``&`` too (they are the directive's syntax).
    """
    words = text.split()[:TEXT_FRAGMENT_WORDS]
    if not words:
        return None
    return ":~:text=" + quote(" ".join(words), safe="").replace("-", "%2D")


def hit_link(collection: str, chunk_id: str, source: str, page: int | None, passage: str) -> str:
    """The link of a result: a PDF (or a scan) at its page, a text or HTML document at the passage
    (``passage``: the highlighted sentence, else the hit's text), any other format as a whole."""
    if Path(source).suffix.lower() in TEXT_FRAGMENT_SUFFIXES:
        fragment = text_fragment(passage)
        if fragment is not None:
            return f"{document_link(collection, chunk_id)}#{fragment}"
    return document_link(collection, chunk_id, page)


def linkable(source: str, roots: Sequence[Path]) -> bool:
    """Whether a result may get a link: its source lies below one of ``roots`` (by name only; the
    server checks the file itself when it is asked for)."""
    if not source:
        return False
    return _serving_root(source, roots) is not None


@dataclass
class OpenedDocument:
    """A checked, open source file, ready to stream; close it (``chunks`` does when it ends)."""

    fd: int
    size: int
    filename: str
    served: ServedType
    charset: str | None = None

    @property
    def content_type(self) -> str:
        if self.charset and self.served.media_type in _TEXT_TYPES:
            return f"{self.served.media_type}; charset={self.charset}"
        return self.served.media_type

    @property
    def headers(self) -> dict[str, str]:
        disposition = "inline" if self.served.inline else "attachment"
        fallback = "".join(
            c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in self.filename
        )
        return {
            **SECURITY_HEADERS,
            "Content-Type": self.content_type,
            "Content-Length": str(self.size),
            "Content-Disposition": (
                f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(self.filename, safe='')}"
            ),
        }

    def chunks(self) -> Iterator[bytes]:
        """The file's bytes in blocks, exactly ``size`` of them, from the open descriptor."""
        try:
            offset = 0
            while offset < self.size:
                block = os.pread(self.fd, min(_BLOCK, self.size - offset), offset)
                if not block:
                    return
                offset += len(block)
                yield block
        finally:
            self.close()

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class DocumentAccess:
    """Looks a result's source up and opens it after every check (see the module docstring)."""

    def __init__(self, store: VectorStore, indexer: Indexer) -> None:
        self._store = store
        self._indexer = indexer  # decides a text file's charset as it did when indexing
        self._verified: OrderedDict[tuple[int, ...], tuple[str, str | None]] = OrderedDict()
        self._lock = threading.Lock()

    def open(self, collection: str, chunk_id: str, roots: Sequence[Path]) -> OpenedDocument:
        try:
            name = validate_collection_name(collection)
            chunk = str(uuid.UUID(chunk_id))
        except (InvalidCollectionNameError, ValueError):
            raise DocumentNotFoundError("No such document.") from None
        if self._store.get_meta(name) is None:
            raise DocumentNotFoundError("No such document.")
        points = self._store.retrieve(name, [chunk])
        if not points:
            raise DocumentNotFoundError("No such document (the collection was re-indexed? search again).")
        payload = points[0].payload
        source, indexed_hash = str(payload.get(Field.SOURCE, "")), str(payload.get(Field.DOC_HASH, ""))
        fmt = format_of(source)
        if not source or not os.path.isabs(source) or fmt is None or fmt != payload.get(Field.FORMAT, fmt):
            raise NotAllowedError("This document cannot be opened from the browser.")
        real_roots = [_realpath(root) for root in roots]
        where = _serving_root(source, roots)
        if where is None or _hidden(where[1]):
            raise NotAllowedError("This document is not in a folder this server serves.")
        real = _realpath(source)
        if not any(_below(real, r) for r in real_roots):
            raise NotAllowedError("This document is not in a folder this server serves.")
        opened = self._open_checked(real, real_roots)
        try:
            charset = self._verify(opened, indexed_hash, fmt)
        except BaseException:
            os.close(opened[0])
            raise
        served = served_type(fmt, source)
        return OpenedDocument(opened[0], opened[1], Path(source).name, served, charset)

    def _open_checked(self, real: str, real_roots: Sequence[str]) -> tuple[int, int, os.stat_result]:
        """Open ``real`` once, never through a symlink in its last part, and check what was opened."""
        flags = os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0)
        try:
            fd = os.open(real, flags)
        except FileNotFoundError:
            raise DocumentNotFoundError(
                "This document is no longer on the server; index its folder again."
            ) from None
        except OSError:
            raise NotAllowedError("This document cannot be opened (a link, or not readable).") from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise NotAllowedError("This document is not a regular file.")
            where = _descriptor_path(fd, real, st)
            if not any(_below(where, r) for r in real_roots):
                raise NotAllowedError("This document is not in a folder this server serves.")
        except BaseException:
            os.close(fd)
            raise
        return fd, st.st_size, st

    def _verify(self, opened: tuple[int, int, os.stat_result], indexed_hash: str, fmt: str) -> str | None:
        """The bytes are those indexed (hashed once per inode, size and times); the text's charset."""
        fd, size, st = opened
        stamp = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        with self._lock:
            known = self._verified.get(stamp)
        if known is None:
            text = served_type(fmt, "").media_type in _TEXT_TYPES
            digest, utf8 = _hash_fd(fd, size, check_utf8=text)
            known = (digest, self._indexer.text_encoding(fd, utf8, fmt == "html") if text else None)
            with self._lock:
                self._verified[stamp] = known
                while len(self._verified) > _VERIFIED_MEMO:
                    self._verified.popitem(last=False)
        if known[0] != indexed_hash:
            raise DocumentChangedError(
                "This document changed since it was indexed; index its folder again to open it."
            )
        return known[1]


def _hash_fd(fd: int, size: int, check_utf8: bool) -> tuple[str, bool]:
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")(errors="strict") if check_utf8 else None
    valid = check_utf8
    offset = 0
    while offset < size and (block := os.pread(fd, min(_BLOCK, size - offset), offset)):
        digest.update(block)
        offset += len(block)
        if decoder is not None and valid:
            try:
                decoder.decode(block)
            except UnicodeDecodeError:
                valid = False
    if decoder is not None and valid:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            valid = False
    return digest.hexdigest(), valid


def _descriptor_path(fd: int, real: str, st: os.stat_result) -> str:
    """Where the open file lives, as the kernel reports it for the descriptor (/proc), else by comparing
    the descriptor's device and inode with the path's."""
    try:
        return os.readlink(_PROC_FD / str(fd))
    except OSError:
        pass
    try:
        same = os.stat(real)
    except OSError:
        return "/nonexistent"
    return real if (same.st_dev, same.st_ino) == (st.st_dev, st.st_ino) else "/nonexistent"


def _serving_root(source: str, roots: Sequence[Path]) -> tuple[Path, Path] | None:
    """(root, path below it) of the first served folder holding ``source``: by the path as indexed, or
    by both resolved (a folder indexed through a symlink to an allowed root)."""
    path = Path(os.path.abspath(source))
    for root in map(_absolute, roots):
        if path == root or root in path.parents:
            return root, path.relative_to(root)
    real = Path(_realpath(path))
    for root in (Path(_realpath(r)) for r in roots):
        if real == root or root in real.parents:
            return root, real.relative_to(root)
    return None


def _realpath(path: Path | str) -> str:
    """``os.path.realpath``, but a path swapped between a link and a file while it is resolved
    (readlink then says EINVAL) is a document that is changing, not a bug."""
    try:
        return os.path.realpath(path)
    except OSError:
        raise DocumentChangedError("This document is changing on the server; try again.") from None


def _absolute(root: Path | str) -> Path:
    return Path(os.path.abspath(root))


def _below(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _hidden(relative: Path) -> bool:
    """The walker never indexes hidden files or folders; nor is one ever served."""
    return any(part.startswith(".") for part in relative.parts)
