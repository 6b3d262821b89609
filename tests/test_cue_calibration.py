"""The relevance cue's calibration file: keyed by model, mode and vectors; no cue, with a reason, elsewhere."""

from __future__ import annotations

from benchmarks.cue_calibration import WITHDRAWN, withdrawn_thresholds
from search.retrieval.cue_calibration import Calibration, CueThresholds, calibration_key, shipped_calibration
from search.retrieval.relevance import cue_for
from search.space.feedback import DEFAULT_FEEDBACK

E5 = "multilingual-e5-small"


def test_the_shipped_file_calibrates_the_default_model_and_says_why_elsewhere() -> None:
    calibration = shipped_calibration()
    for mode in ("dense", "hybrid"):
        found = calibration.lookup(calibration_key(E5, mode, "centering-v1:abc", DEFAULT_FEEDBACK.name))
        assert isinstance(found, CueThresholds), mode
        assert found.weak <= found.strong
    # sparse: calibrated, then withdrawn after the held-out report (README, Relevance cue)
    for correction in ("centering-v1:abc", "centering-v2:abc"):
        sparse = calibration.lookup(calibration_key(E5, "sparse", correction, DEFAULT_FEEDBACK.name))
        assert isinstance(sparse, str) and "withdrawn" in sparse, correction
    legacy = "softmax-prf-v1:w=0.4,top=5,t=0.01,n=100"  # collections of earlier versions: the same vote now
    assert calibration_key(E5, "dense", "centering-v1:x", legacy) == calibration_key(
        E5, "dense", "centering-v1:y", DEFAULT_FEEDBACK.name
    )
    reranked = calibration.lookup(calibration_key(E5, "rerank", "centering-v1:abc", DEFAULT_FEEDBACK.name))
    assert isinstance(reranked, str) and "reranker" in reranked
    raw = calibration.lookup(calibration_key(E5, "dense", None, None))  # no correction: other scores
    assert isinstance(raw, str) and raw.startswith("No relevance cue for multilingual-e5-small in dense mode")


def test_cue_bands() -> None:
    thresholds = CueThresholds(strong=2.0, weak=0.5, nonsense=0.9)
    assert cue_for(2.5, 0.1, thresholds) == "strong"
    assert cue_for(1.0, 0.1, thresholds) == "weak"
    assert cue_for(0.0, 0.1, thresholds) == "none"
    assert cue_for(None, 0.1, thresholds) == "none"  # beyond the dense lookup
    assert cue_for(5.0, 0.95, thresholds) == "none"  # a query about nothing
    empty = Calibration({}, {})
    assert "not calibrated" in str(empty.lookup("m|dense|none|none"))


def test_a_withdrawn_cue_keeps_its_thresholds_for_the_report() -> None:
    """The app shows no cue for a withdrawn model and mode; the file keeps what calibrate chose, so the
    held-out report can measure it again (README, Relevance cue: the sparse rows)."""
    vote = DEFAULT_FEEDBACK.name
    kept = withdrawn_thresholds()
    assert kept[f"{E5}|sparse|centering-v2|{vote}"] == CueThresholds(2.8, -9.25, 0.877)
    assert kept[f"{E5}|sparse|centering-v1|{vote}"] == CueThresholds(3.3, -5.3, 0.877)
    calibration = shipped_calibration()
    for key in kept:
        model, mode = key.split("|")[:2]
        assert (
            calibration.lookup(key)
            == f"No relevance cue for {model} in {mode} mode: {WITHDRAWN[f'{model}|{mode}']}."
        )
