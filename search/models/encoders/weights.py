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
    """Refuse a code-carrying ``pytorch_model*.bin`` when the model is loaded, not at its first use.

    Backends are built on first use (a search on ONNX Runtime never loads the torch weights), so
    without this a bad pickle would surface in the middle of a search or an index run. Only folders
    without safetensors pay for it; tensors go to the meta device, so nothing is materialised.
    """
    if any(folder.glob("*.safetensors")):
        return
    pickles = sorted(folder.glob("pytorch_model*.bin"))
    if not pickles:
        return
    import torch

    with refusing_unsafe_pickles(folder):
        for path in pickles:
            torch.load(path, map_location="meta", weights_only=True)
