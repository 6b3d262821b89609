"""Progress display for the CLI: a tqdm bar fed by index_folder's progress callback.

The bar moves with the work (bytes of the files, a file being embedded counting for the share
of its chunks written), so a folder dominated by one large PDF moves batch by batch; files done,
chunks and the time left (from a smoothed rate, search.core.eta) follow it as text.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

from search.core.display import shown_name
from search.core.eta import EtaMeter, eta_text
from search.core.reports import IndexProgress, ProgressFn

SCALE = 1000  # the bar counts thousandths of the work
BAR_FORMAT = "{percentage:3.0f}%|{bar}| {desc}"


def progress_text(event: IndexProgress, eta: str) -> str:
    """The line beside the bar: files, chunks, OCR, time left, the file at hand."""
    parts = [f"{event.files_done}/{event.files_total} files", f"{event.chunks_written} chunks"]
    if event.pages_ocr:
        parts.append(f"{event.pages_ocr} pages OCR'd")
    if eta:
        parts.append(eta)
    if event.current:
        parts.append(shown_name(event.current)[-40:])  # a file name may hold escapes: never raw
    return ", ".join(parts)


@contextmanager
def tqdm_progress(disable: bool = False, loggers: Sequence[logging.Logger] = ()) -> Iterator[ProgressFn]:
    """A progress callback drawing one bar; log records of ``loggers`` (and the root logger) are
    written above the bar, never glued to its line."""
    bar: tqdm | None = None
    meter = EtaMeter()
    try:
        with logging_redirect_tqdm(loggers=[logging.root, *loggers]):

            def update(event: IndexProgress) -> None:
                nonlocal bar
                if bar is None:
                    bar = tqdm(
                        total=SCALE,
                        desc="indexing: 0 chunks",
                        disable=disable,
                        dynamic_ncols=True,
                        bar_format=BAR_FORMAT,
                    )
                if event.stage != "indexing":
                    text = f"{event.stage}: {event.chunks_written} chunks"
                else:
                    text = "indexing: " + progress_text(event, eta_text(meter.update(event)))
                bar.set_description_str(text, refresh=False)
                bar.update(int(event.fraction * SCALE) - bar.n)

            yield update
    finally:
        if bar is not None:
            bar.close()
