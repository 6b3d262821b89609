"""Peak memory of ``app.py index`` on hostile text shapes, against an ordinary run, before and after.

Why: one 10 MB line used to take 3.8 GB (a normal run: 1.1-2.3 GB) and a 197 MB one
grew past 10 GB. Each line of the table is a fresh ``python app.py index`` process
(the real CLI, the default model, no embedding cache) on a folder holding one
generated file; its peak RSS comes from ``wait4``. The ordinary run indexes
``sample_corpora/documents`` (48 short documents); growth is a shape's peak minus
that. Full-length chunks alone raise the model's peak (ONNX Runtime keeps its largest
batch's buffers), so ``--shapes paragraphs`` measures the same size of ordinary prose as
the control for what a file of that size costs anyway. ``--baseline-repo`` runs the same against another checkout (e.g. main) in the
same run, which gives the before/after ratio.

    python -m benchmarks.long_lines                               # this checkout
    python -m benchmarks.long_lines --baseline-repo ../main       # and main, same inputs
    python -m benchmarks.long_lines --shapes one-line --mb 50     # one shape, larger
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.common import REPO, format_table
from search.core.paths import default_cache_dir

ORDINARY = REPO / "sample_corpora" / "documents"
PROSE = (
    "the bees learn to find flowers by colour and scent while the hive keeps warm through winter "
    "keepers count the colonies twice a year and treat them against mites in late autumn"
)
VOCABULARY = PROSE.split(" ")
THAI = "ภาษาไทยสวัสดีครับวันนี้อากาศดีมากเราจะไปทะเลกัน"


def _words(size: int, seed: float = 0) -> str:
    rng = random.Random(seed)
    out: list[str] = []
    length = 0
    while length < size:
        word = rng.choice(VOCABULARY)
        out.append(word)
        length += len(word) + 1
    return " ".join(out)[:size]


def _paragraphs(size: int) -> str:
    """Ordinary prose: sentences of 8-20 words, paragraphs of 3-8 sentences (the control)."""
    rng = random.Random(1)
    paragraphs: list[str] = []
    length = 0
    while length < size:
        sentences = [
            _words(rng.randint(40, 120), seed=rng.random()).capitalize() + "."
            for _ in range(rng.randint(3, 8))
        ]
        paragraphs.append(" ".join(sentences))
        length += len(paragraphs[-1]) + 2
    return "\n\n".join(paragraphs)[:size]


# shape -> (file name, default size in MB, content for a size in bytes)
SHAPES: dict[str, tuple[str, float, Callable[[int], str]]] = {
    "paragraphs": ("paragraphs.txt", 10, _paragraphs),  # not hostile: what the same size costs normally
    "one-line": ("one-line.txt", 10, _words),
    "no-spaces": ("no-spaces.txt", 3, lambda size: THAI * (size // len(THAI.encode()))),
    "giant-paragraph": (
        "giant-paragraph.md",
        3,
        lambda size: "\n".join(_words(200, seed=i) for i in range(size // 201)),
    ),
    "giant-element": (
        "giant-element.html",
        3,
        lambda size: f"<html><body><p>{_words(size - 40)}</p></body></html>",
    ),
}


def run_index(repo: Path, folder: Path, data: Path, cache: Path, max_mb: float) -> dict[str, object]:
    """One ``app.py index`` process; its peak RSS from wait4 and what it reported."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [
            sys.executable,
            str(repo / "app.py"),
            "--data-dir",
            str(data),
            "--cache-dir",
            str(cache),
            "--no-embedding-cache",
            "index",
            str(folder),
            "--json",
            "--max-file-mb",
            str(max_mb),
        ],
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(repo)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    out = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    report = json.loads(out) if process.returncode == 0 and out.strip() else {}
    return {
        "peak_mb": usage.ru_maxrss / 1024,
        "seconds": time.perf_counter() - started,
        "chunks": report.get("chunks_written", "-"),
        "ok": process.returncode == 0 and not report.get("skipped"),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--shapes", default=",".join(list(SHAPES)[1:]), help=f"comma-separated, of {', '.join(SHAPES)}"
    )
    parser.add_argument("--mb", type=float, help="size of every generated file (default: per shape)")
    parser.add_argument("--baseline-repo", type=Path, help="another checkout to measure the same way")
    parser.add_argument("--cache-dir", type=Path, default=default_cache_dir(), help="converted model cache")
    args = parser.parse_args(argv)
    repos = [("this", REPO)] + ([("baseline", args.baseline_repo.resolve())] if args.baseline_repo else [])
    rows = []
    growth: dict[tuple[str, str], float] = {}
    with tempfile.TemporaryDirectory(prefix="long-lines-") as scratch:
        root = Path(scratch)
        inputs = []
        for shape in [s.strip() for s in args.shapes.split(",") if s.strip()]:
            name, default_mb, make = SHAPES[shape]
            size = int((args.mb or default_mb) * 2**20)
            folder = root / shape
            folder.mkdir()
            (folder / name).write_text(make(size), encoding="utf-8")
            inputs.append((shape, folder, (folder / name).stat().st_size / 2**20))
        max_mb = max(size for _, _, size in inputs) + 1
        for label, repo in repos:
            ordinary = run_index(repo, ORDINARY, root / f"data-{label}-ordinary", args.cache_dir, max_mb)
            rows.append(
                [
                    label,
                    "ordinary (sample corpus)",
                    "-",
                    ordinary["peak_mb"],
                    0.0,
                    ordinary["seconds"],
                    ordinary["chunks"],
                ]
            )
            for shape, folder, size in inputs:
                result = run_index(repo, folder, root / f"data-{label}-{shape}", args.cache_dir, max_mb)
                extra = float(result["peak_mb"]) - float(ordinary["peak_mb"])  # type: ignore[arg-type]
                growth[label, shape] = extra
                status = "" if result["ok"] else " (failed)"
                rows.append(
                    [
                        label,
                        shape + status,
                        f"{size:.1f}",
                        result["peak_mb"],
                        extra,
                        result["seconds"],
                        result["chunks"],
                    ]
                )
    print(format_table(["checkout", "input", "MB", "peak RSS MB", "growth MB", "seconds", "chunks"], rows))
    if args.baseline_repo:
        for shape, _, _ in inputs:
            before, after = growth["baseline", shape], growth["this", shape]
            print(f"{shape}: growth {before:.0f} MB -> {after:.0f} MB ({before / max(after, 1.0):.1f}x less)")


if __name__ == "__main__":
    main()
