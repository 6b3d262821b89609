"""The one exception root: every error a user can act on derives from ``AppError``.

Each front end (CLI, web UI) has one error boundary that turns an ``AppError``
into its message, shown as is: messages say what went wrong and what to do.
Anything else that escapes is a bug and is reported as one. The stdlib bases
(``ValueError``, ``LookupError``, ``RuntimeError``) are kept as mixins so that
callers who catch those keep working.
"""

from __future__ import annotations

import errno


class AppError(Exception):
    """Root of the application's own errors; ``str(exc)`` is a message for the user."""


class InputError(AppError, ValueError):
    """A value, path or name given by the user that cannot be used."""


class NotAFolderError(AppError, NotADirectoryError):
    """A folder to index that does not exist or is not a folder."""


class QueryError(InputError):
    """A query that cannot be searched (empty, k out of range, unknown mode...)."""


class QuerySetError(InputError):
    """A query set folder or file that cannot be read; the message says which file and line."""


class NotAllowedError(InputError):
    """A request the server refuses (a folder outside the allowed roots, an unknown model name...)."""


class StoreError(AppError, RuntimeError):
    """A problem with the vector store or a collection; the message says what to do."""


class ModelMismatchError(StoreError):
    """The collection was built with another model (or other prompts, dimension or settings)."""


class CollectionNotFoundError(StoreError, LookupError):
    """No collection of that name."""


class StoreLockedError(StoreError):
    """Another process holds the embedded store; sharing it would corrupt it."""


class InvalidCollectionNameError(StoreError, ValueError):
    """A collection name that is not a safe folder name (it becomes one on the embedded store)."""


class ModelError(AppError, RuntimeError):
    """A model that cannot be found, loaded or used."""


class UnknownModelError(ModelError, LookupError):
    """A model name the registry does not know; the message lists the known ones."""


class ModelNotAvailableError(ModelError):
    """The model's files are neither on this machine nor downloadable from here."""


class BundledModelError(ModelNotAvailableError):
    """The bundled model cannot be built (its package missing or its file not in the expected format)."""


class UnsafeModelFileError(ModelError):
    """A model's weights are a pickle that holds more than tensors: loading it could run code."""


class CorruptModelError(ModelError):
    """A model's files are damaged (checksums differ, or it computes NaN): rebuilt where the app built them."""


class OnnxExportError(ModelError):
    """The model's graph did not export to ONNX, or the export does not compute what torch computes."""


class EnvironmentFailure(AppError, RuntimeError):
    """The machine, not the input and not a bug: a full disk, a read-only or unreadable folder, a file gone."""


class DiskFullError(EnvironmentFailure):
    """The file system holding a folder the app writes has no room left (or the user's quota is used up)."""


class ReadOnlyError(EnvironmentFailure):
    """A folder the app must write is on a read-only file system."""


class PermissionDeniedError(EnvironmentFailure):
    """The operating system refused access to a file or folder."""


class MissingFileError(EnvironmentFailure):
    """A file or folder the app needs does not exist (any more)."""


_ENOSPC, _EDQUOT, _EROFS = errno.ENOSPC, errno.EDQUOT, errno.EROFS
_EACCES, _EPERM, _ENOENT = errno.EACCES, errno.EPERM, errno.ENOENT


def disk_full(folder: object, detail: str = "") -> DiskFullError:
    """The one message for a full disk, naming the folder whose disk it is."""
    return DiskFullError(
        f"the disk holding {folder} is full{detail}: free some space there, or use a folder on another "
        "disk (--data-dir for the index, --cache-dir for models and the embedding cache)"
    )


def environment_failure(exc: OSError) -> EnvironmentFailure | None:
    """The operating system's error about the machine as one of ours, with what to do; None for others."""
    path = exc.filename or ""
    if exc.errno in (_ENOSPC, _EDQUOT):
        folder = path if not path or str(path).endswith("/") else str(path).rsplit("/", 1)[0] or "/"
        return disk_full(folder or "a folder the app writes")
    if exc.errno == _EROFS:
        return ReadOnlyError(
            f"{path or 'a folder the app writes'} is on a read-only file system: use a writable folder "
            "(--data-dir, --cache-dir)"
        )
    if exc.errno in (_EACCES, _EPERM):
        return PermissionDeniedError(
            f"permission denied: {path or 'a file the app needs'}: check its owner and permissions, or use "
            "another folder"
        )
    if exc.errno == _ENOENT:
        return MissingFileError(f"{path or 'a file the app needs'} does not exist (moved or deleted?)")
    return None


def user_message(exc: BaseException) -> str | None:
    """The one-line message a user should read for ``exc``, or None when it is a bug, not their error.

    Our own errors carry their message; so do the operating system's errors about a path the
    user gave (a missing folder, a permission denied) and about the machine (a full disk).
    """
    if isinstance(exc, AppError):
        return _one_line(str(exc)) or type(exc).__name__
    if isinstance(exc, OSError):
        known = environment_failure(exc)
        if known is not None:
            return _one_line(str(known))
        where = f": {exc.filename}" if exc.filename else ""
        return _one_line(f"{exc.strerror or exc}{where}")
    return None


def _one_line(text: str, limit: int = 600) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
