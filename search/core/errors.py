"""The one exception root: every error a user can act on derives from ``AppError``.

Each front end (CLI, web UI) has one error boundary that turns an ``AppError``
into its message, shown as is: messages say what went wrong and what to do.
Anything else that escapes is a bug and is reported as one. The stdlib bases
(``ValueError``, ``LookupError``, ``RuntimeError``) are kept as mixins so that
callers who catch those keep working.
"""

from __future__ import annotations


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


class OnnxExportError(ModelError):
    """The model's graph did not export to ONNX, or the export does not compute what torch computes."""


def user_message(exc: BaseException) -> str | None:
    """The one-line message a user should read for ``exc``, or None when it is a bug, not their error.

    Our own errors carry their message; so do the operating system's errors about a path the
    user gave (a missing folder, a permission denied).
    """
    if isinstance(exc, AppError):
        return _one_line(str(exc)) or type(exc).__name__
    if isinstance(exc, OSError):
        where = f": {exc.filename}" if exc.filename else ""
        return _one_line(f"{exc.strerror or exc}{where}")
    return None


def _one_line(text: str, limit: int = 600) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
