"""`python app.py search` as a user runs it: cold process wall time, and the search's own time.

Why: a CLI search is a new process each time, so what a user waits for is
imports + opening the store + loading the model + the search itself. The
baseline is measured in the same run: the same command from another checkout
of the project (``--baseline``, e.g. the previous release in a git worktree),
against the same index (the on-disk formats are the same), alternating runs
so load on the machine hits both alike.

    python -m benchmarks.cli_search                                  # this checkout only
    python -m benchmarks.cli_search --baseline ../baseline --runs 15 # before/after, one run
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import REPO, format_table

QUERIES = (
    "Wie lernen Bienen?",
    "كيف تتشكل البراكين؟",
    "如何制作酸面包的发酵种",
    "protected bike lanes at intersections",
    "산호초 백화 현상의 원인",
)


def run_cli(repo: Path, data: Path, cache: Path, *args: str) -> tuple[float, dict[str, object]]:
    """Wall seconds of one ``app.py`` process and its JSON output."""
    env = {**os.environ, "PYTHONPATH": str(repo)}
    t0 = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(repo / "app.py"), "--data-dir", str(data), "--cache-dir", str(cache), *args],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{repo}: app.py {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return wall, json.loads(done.stdout) if done.stdout.strip().startswith("{") else {}


def own_cache(cache: Path, dest: Path) -> Path:
    """Another checkout's cache: the converted model and the backend plan linked, not made again;
    its ONNX export its own, made by its own code (an export is part of what is compared)."""
    shutil.copytree(cache, dest, ignore=shutil.ignore_patterns("onnx", "*.sqlite3*"), copy_function=os.link)
    return dest


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--baseline", type=Path, help="another checkout of the project to compare with")
    parser.add_argument("--runs", type=int, default=10, help="searches per checkout (cold processes)")
    parser.add_argument(
        "--cache-dir", type=Path, help="model cache (default: a temporary one, converted once)"
    )
    args = parser.parse_args()

    repos = [("this checkout", REPO)]
    if args.baseline:
        repos.insert(0, ("baseline", args.baseline.resolve()))
    with tempfile.TemporaryDirectory(prefix="cli-search-") as tmp:
        data = Path(tmp) / "data"
        cache = args.cache_dir or Path(tmp) / "cache"
        wall, _ = run_cli(REPO, data, cache, "index", str(REPO / "sample_corpora" / "documents"), "--json")
        print(f"indexed the sample corpus in {wall:.1f} s (model converted if needed)", file=sys.stderr)
        caches = {name: cache if repo == REPO else own_cache(cache, Path(tmp) / f"cache-{i}")
                  for i, (name, repo) in enumerate(repos)}  # fmt: skip
        for name, repo in repos:  # warm the OS file cache and each checkout's own model exports
            run_cli(repo, data, caches[name], "search", QUERIES[0], "--json")
        walls: dict[str, list[float]] = {name: [] for name, _ in repos}
        inner: dict[str, list[float]] = {name: [] for name, _ in repos}
        for i in range(args.runs):
            for name, repo in repos:
                wall, out = run_cli(
                    repo, data, caches[name], "search", QUERIES[i % len(QUERIES)], "--json", "-k", "5"
                )
                walls[name].append(wall)
                timings = out.get("timings_ms") or {}
                inner[name].append(float(timings.get("total", 0.0)) if isinstance(timings, dict) else 0.0)

    base = statistics.median(walls[repos[0][0]])
    rows = []
    for name, _ in repos:
        w = sorted(walls[name])
        p95 = w[min(len(w) - 1, round(0.95 * (len(w) - 1)))]
        rows.append(
            [
                name,
                statistics.median(w),
                p95,
                statistics.median(inner[name]),
                f"{statistics.median(w) / base:.2f}x",
            ]
        )
    print(f"`app.py search` cold process, {args.runs} runs per checkout, sample corpus (207 chunks)")
    print(format_table(["checkout", "wall p50 s", "wall p95 s", "search ms p50", "vs first"], rows))


if __name__ == "__main__":
    main()
