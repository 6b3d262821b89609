"""How fast each model indexed on this machine, kept from run to run: the estimate the Compare tab
gives before it offers to index a collection's documents with a second model.

The rate is the passages a model embedded per second of its embedding stage (vectors read back
from the embedding cache left out) in its last index run of at least MIN_PASSAGES passages. It is
measured on whatever that run indexed (often the short sample documents), so the estimate is
said to be one.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from search.core.reports import IndexReport

log = logging.getLogger(__name__)

RATES_FILE = "index_rates.json"
MIN_PASSAGES = 32  # fewer passages say more about loading than about the model's speed


@dataclass(frozen=True)
class IndexRate:
    model: str
    passages_per_s: float
    passages: int  # how many the rate was measured on

    def seconds_for(self, passages: int) -> float:
        return passages / self.passages_per_s


class IndexRates:
    """Rates per model in a small JSON file in the data folder; a missing or damaged file is no rate."""

    def __init__(self, folder: Path) -> None:
        self._path = Path(folder) / RATES_FILE

    def get(self, model: str) -> IndexRate | None:
        entry = self._read().get(model)
        if not isinstance(entry, dict):
            return None
        try:
            rate, passages = float(entry["passages_per_s"]), int(entry["passages"])
        except (KeyError, TypeError, ValueError):
            return None
        return IndexRate(model, rate, passages) if rate > 0 else None

    def record(self, report: IndexReport) -> None:
        """Keep the rate of a run that embedded enough passages; never fails the run."""
        embedded = report.chunks_written - report.vectors_reused
        seconds = report.timings.get("embed", 0.0)
        if embedded < MIN_PASSAGES or seconds <= 0 or report.cancelled:
            return
        rates = self._read()
        rates[report.model] = {"passages_per_s": round(embedded / seconds, 2), "passages": embedded}
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self._path.with_suffix(".tmp")
            temporary.write_text(json.dumps(rates, indent=1, sort_keys=True), encoding="utf-8")
            os.replace(temporary, self._path)
        except OSError as exc:
            log.debug("could not keep the indexing rate in %s: %s", self._path, exc)

    def _read(self) -> dict[str, object]:
        try:
            data = json.loads(self._path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}
