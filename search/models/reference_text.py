"""The project's parallel reference text (``language_reference/``: the same sentences in 18 languages).

Two users read it: the language correction computes its reference means from it
(search.models.language_bias), and the backend planner times and gates candidate
backends on it (search.models.planner). It lives apart from both so neither borrows it from the other.
"""

from __future__ import annotations

from importlib import resources

REFERENCE_PACKAGE = "search.models"
REFERENCE_FOLDER = "language_reference"


def reference_sentences() -> dict[str, list[str]]:
    """language -> the project's parallel reference sentences (same count and order in every language)."""
    folder = resources.files(REFERENCE_PACKAGE) / REFERENCE_FOLDER
    texts = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".txt"):
            lines = entry.read_text(encoding="utf-8").splitlines()
            texts[entry.name[: -len(".txt")]] = [line.strip() for line in lines if line.strip()]
    counts = {len(v) for v in texts.values()}
    if len(counts) != 1:
        raise ValueError(f"reference files must be parallel; sentence counts differ: {sorted(counts)}")
    return texts
