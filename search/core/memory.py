"""Giving freed memory back to the system (glibc keeps freed heap pages in the process otherwise).

Why: torch, ONNX Runtime, lxml and PyMuPDF free many blocks below glibc's mmap threshold; they
stay in the process's heap, counted in its RSS, until trimmed. The backend planner frees each
candidate's model and the indexer frees each batch's text and tensors: without a trim a laptop
still pays for them (an index run gave back 570 MB to one trim).
"""

from __future__ import annotations

import ctypes
import gc
from functools import cache


@cache
def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: nothing to trim
        return None


def trim_heap() -> None:
    """Return the free pages of every malloc arena to the system (a few ms)."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


def release_memory() -> None:
    """Collect reference cycles (a dropped model may sit in one), then trim the heap."""
    gc.collect()
    trim_heap()
