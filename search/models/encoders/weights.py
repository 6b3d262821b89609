"""Loading weights a user pointed at: a pickle that could run code is refused with a clear message.

torch loads ``pytorch_model.bin`` with ``weights_only=True`` (transformers does the
same), which refuses a pickle that holds anything but tensors by raising
``UnpicklingError`` with a paragraph about ``torch.load`` defaults. The refusal is
right; the message is for a user, so it becomes one line saying what to do.
"""

from __future__ import annotations

import pickle
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from search.core.errors import UnsafeModelFileError


@contextmanager
def refusing_unsafe_pickles(folder: Path) -> Iterator[None]:
    """Turn torch's refusal of a code-carrying pickle into an UnsafeModelFileError naming the folder."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
        try:
            yield
        except pickle.UnpicklingError:
            raise UnsafeModelFileError(
                f"{folder}: its weights are a pickle (.bin) that holds more than plain tensors, so "
                "loading it could run code; refused. Use a copy of the model saved as safetensors "
                "(model.safetensors), e.g. from the model's publisher."
            ) from None


def check_pickled_weights(folder: Path) -> None:
    """Refuse a code-carrying ``pytorch_model.bin`` when the model is loaded, not at its first use.

    Why: the model itself is built lazily (a search on ONNX Runtime never loads torch
    weights), so without this check a bad folder would fail half-way through an index run.
    Folders with safetensors weights cost nothing here.
    """
    weights = folder / "pytorch_model.bin"
    if (folder / "model.safetensors").is_file() or not weights.is_file():
        return
    import torch

    with refusing_unsafe_pickles(folder):
        try:  # memory-mapped: the tensors are not read, only the pickle that names them
            torch.load(weights, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError:  # a legacy (non-zip) file cannot be mapped
            torch.load(weights, map_location="cpu", weights_only=True)
