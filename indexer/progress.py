"""Progress display for the CLI: a tqdm bar fed by index_folder's progress callback."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tqdm import tqdm

from search.core.reports import IndexProgress, ProgressFn


@contextmanager
def tqdm_progress(disable: bool = False) -> Iterator[ProgressFn]:
    bar: tqdm | None = None
    try:

        def update(event: IndexProgress) -> None:
            nonlocal bar
            if bar is None:
                bar = tqdm(
                    total=event.files_total, unit="file", desc="indexing", disable=disable, dynamic_ncols=True
                )
            if event.stage != "indexing":
                bar.set_description_str(event.stage, refresh=False)
                bar.set_postfix_str(f"{event.chunks_written} chunks", refresh=False)
            else:
                ocr = f", {event.pages_ocr} pages OCR'd" if event.pages_ocr else ""
                bar.set_postfix_str(
                    f"{event.chunks_written} chunks{ocr}, {event.current[-40:]}", refresh=False
                )
            bar.update(event.files_done - bar.n)

        yield update
    finally:
        if bar is not None:
            bar.close()
