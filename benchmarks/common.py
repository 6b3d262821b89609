"""Helpers shared by the benchmark scripts: where the evaluation data is, published scores, tables."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def evaldata_dir() -> Path:
    """``../shared/evaldata`` next to the checkout, or $MLSEARCH_EVALDATA."""
    env = os.environ.get("MLSEARCH_EVALDATA")
    candidates = [Path(env)] if env else []
    candidates += [REPO.parent / "shared" / "evaldata", REPO.parent.parent / "shared" / "evaldata"]
    for path in candidates:
        if path.is_dir():
            return path
    sys.exit(
        "benchmark data not found: expected ../shared/evaldata next to the checkout "
        "(or set MLSEARCH_EVALDATA)"
    )


def reference_scores(filename: str) -> dict[str, dict[str, float]]:
    """Published MTEB figures: model short name -> subset -> score (missing cells left out)."""
    path = evaldata_dir() / "reference_scores" / filename
    lines = [
        line for line in path.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")
    ]
    header = lines[0].split("\t")
    table: dict[str, dict[str, float]] = {model: {} for model in header[1:]}
    for line in lines[1:]:
        cells = line.split("\t")
        for model, cell in zip(header[1:], cells[1:]):
            try:
                table[model][cells[0]] = float(cell)
            except ValueError:
                continue
    return table


def reference_name(model: str) -> str:
    """The column name the reference tables use for a registry model name."""
    return model.rsplit("/", 1)[-1]


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A plain monospace table; floats with two decimals."""

    def cell(value: object) -> str:
        if isinstance(value, float):
            return f"{value:.2f}"
        return "" if value is None else str(value)

    text_rows = [[cell(v) for v in row] for row in rows]
    widths = [
        max(len(str(h)), *(len(r[i]) for r in text_rows)) if text_rows else len(str(h))
        for i, h in enumerate(headers)
    ]
    out = ["  ".join(str(h).ljust(w) for h, w in zip(headers, widths))]
    out.append("  ".join("-" * w for w in widths))
    for row in text_rows:
        out.append("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))))
    return "\n".join(out)


def run_json_child(script: str, args: Sequence[str], repo: Path, label: str) -> dict[str, Any]:
    """Run a Python snippet in a fresh process with ``repo`` (this or another checkout) first on the path;
    its last line of output is a JSON object. A failed child stops the benchmark, naming ``label``."""
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(repo)},
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{label}: the run failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]
