"""Where the relevance cue is calibrated, and its thresholds: one data file keyed by what sets the scores.

Why: a cue's thresholds hold for the scores they were chosen on, and those come from the
model, the search mode and the vectors (the language correction and the cross-lingual
vote). The thresholds live in ``cue_thresholds.json`` beside this module, written by
``python -m benchmarks.cue_calibration calibrate`` (re-run it after changing a model, the
correction or the vote) and read here; a search whose key has no entry, or an entry that
says why it could not be calibrated, shows no cue and says why (issue 22).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from search.space.feedback import Feedback

DATA_FILE = "cue_thresholds.json"
NOT_CALIBRATED = "not calibrated"


@dataclass(frozen=True)
class CueThresholds:
    """Margins above a collection's noise floor (search.retrieval.relevance.NoiseFloor)."""

    strong: float
    weak: float
    nonsense: float  # cosine of a query to the meaningless probes above which it reads as nonsense


def vectors_key(correction: str | None, feedback: str | None) -> str:
    """The part of the key the stored vectors decide: the correction's method and the vote as run.

    A correction is named ``method:hash-of-means``; the thresholds hold for the method (means that
    move with the folder keep the method). Votes recorded by earlier versions run as today's.
    """
    method = correction.split(":", 1)[0] if correction else "none"
    vote = Feedback.parse(feedback) if feedback else None
    vote_name = "none" if vote is None else Feedback(vote.weight, vote.top, vote.temperature).name
    return f"{method}|{vote_name}"


def calibration_key(model: str, mode: str, correction: str | None, feedback: str | None) -> str:
    return f"{model}|{mode}|{vectors_key(correction, feedback)}"


@dataclass(frozen=True)
class Calibration:
    """The data file: key -> thresholds, or key -> why there are none (``model|mode|*``: any vectors)."""

    thresholds: Mapping[str, CueThresholds]
    reasons: Mapping[str, str]
    source: str = ""  # what the thresholds were chosen on

    def lookup(self, key: str) -> CueThresholds | str:
        """The thresholds for ``key``, or a sentence saying why there is no cue."""
        if key in self.thresholds:
            return self.thresholds[key]
        model, mode = key.split("|", 2)[:2]
        reason = self.reasons.get(key) or self.reasons.get(f"{model}|{mode}|*") or NOT_CALIBRATED
        return f"No relevance cue for {model} in {mode} mode: {reason}."

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Calibration:
        thresholds, reasons = {}, {}
        for key, entry in (data.get("entries") or {}).items():
            if "strong" in entry:
                thresholds[key] = CueThresholds(
                    float(entry["strong"]), float(entry["weak"]), float(entry["nonsense"])
                )
            else:
                reasons[key] = str(entry.get("reason") or NOT_CALIBRATED)
        return cls(thresholds, reasons, str(data.get("calibrated_on", "")))


def shipped_calibration() -> Calibration:
    """The package's data file (SearchApp reads it once); an unreadable file calibrates nothing."""
    path = resources.files("search.retrieval") / DATA_FILE
    try:
        return Calibration.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return Calibration({}, {})
