"""Peak memory of the heavy stages a user meets in the first hour, each in a child process of its own.

Why: the app runs on laptops beside a browser; issue 25 measured the first launch's background
backend planner at 5.34 GB peak RSS, indexing a real 10,620-chunk folder at 3.41 GB and the
three-model evaluation at 4.54 GB (goals: 1.5 GB for the planner, 2 GB for indexing and
evaluation). One row per stage, beside the model alone (loading e5-small and embedding one
batch) as the baseline. Two figures per run: the stage's own peak RSS (``os.wait4``'s rusage)
and the peak of the RSS summed over the stage and its children, sampled every 0.2 s (the edge
store optimises in a child process while the indexer waits): the goal is checked on the larger.

* planner: ``python -m search.application.backend_plans`` on a cache with the converted model and
  nothing else (no plan, no ONNX export), as the UI starts it after its first launch;
* index: ``app.py index`` of a real multilingual folder, the Debian Reference manual's own files
  (HTML chapters in seven languages, the whole manual as PDF in three others, ~10k chunks;
  benchmarks.debian_manual.real_folder), or ``--folder``, or a generated one (``--files N``), on
  the cache the planner left (the plan is measured, as on a relaunch);
* eval: ``app.py --no-embedding-cache eval`` of the sample query set with ``--models``.

``--baseline PATH`` runs every stage first in that checkout (e.g. ``git worktree add --detach
/tmp/mem-base a3f608f``, run with this venv) with caches and data of its own, then in this one:
one table with the peak before and after.

Model folders are hard-linked from ``--cache-dir`` (converted or distilled there before: run the
app or this once without it), so no stage converts or distills a model.

    python -m benchmarks.stage_memory --cache-dir ~/.cache/multilingual-search --baseline /tmp/mem-base
    python -m benchmarks.stage_memory --cache-dir DIR --stages planner,index --files 2000
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import psutil

from benchmarks.common import REPO, format_table

STAGES = ("baseline", "planner", "index", "eval")
GOALS_MB = {"planner": 1500, "index": 2048, "eval": 2048}
DEFAULT_MODELS = "multilingual-e5-small,use-multilingual-v3,m2v-e5-small"
BASELINE = """
import sys
from pathlib import Path
from search.models.loading import load_embedder
embedder = load_embedder("multilingual-e5-small", cache_dir=Path(sys.argv[1]), backend="torch")
embedder.encode_documents(["A passage of text about bees and flowers, repeated. " * 20] * 32)
"""


@dataclass(frozen=True)
class Run:
    peak_mb: float  # the stage's own process (rusage)
    tree_mb: float  # RSS of the process and its children summed, sampled
    seconds: float
    code: int


def tree_rss(process: psutil.Process) -> int:
    """Bytes resident in a process and all its descendants now (those gone meanwhile count 0).

    A child that has not exec'd yet (its command line still its parent's) is left out: between
    ``vfork`` and ``exec`` it shares its parent's memory, and counting it doubled the parent (the
    first 10k-chunk index run read 3,485 MB, twice the indexer's 1,742 MB as it started tesseract).
    """
    total = 0
    for p in [process, *process.children(recursive=True)]:
        try:
            parent = p.parent()
            if p.pid != process.pid and parent is not None and p.cmdline() == parent.cmdline():
                continue
            total += p.memory_info().rss
        except psutil.Error:
            continue
    return total


def run_child(command: Sequence[str], log: Path, repo: Path = REPO, every_s: float = 0.2) -> Run:
    """Run one stage in ``repo``; its stdout in ``log``, stderr beside."""
    started = time.perf_counter()
    peak = [0]
    with log.open("w", encoding="utf-8") as out, log.with_suffix(".err").open("w", encoding="utf-8") as err:
        process = subprocess.Popen(
            list(command), cwd=repo, stdout=out, stderr=err, env={**os.environ, "PYTHONPATH": str(repo)}
        )
        done = threading.Event()

        def sample() -> None:
            try:
                watched = psutil.Process(process.pid)
                while not done.wait(every_s):
                    peak[0] = max(peak[0], tree_rss(watched))
            except psutil.Error:
                return

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        done.set()
        sampler.join()
    process.returncode = os.waitstatus_to_exitcode(status)
    own = usage.ru_maxrss / 1024
    return Run(own, max(own, peak[0] / 2**20), time.perf_counter() - started, process.returncode)


def linked_models(source: Path, target: Path) -> None:
    """A cache holding only the source cache's model folders, hard-linked (no plan, no ONNX export)."""
    models = source / "models"
    if not models.is_dir():
        raise SystemExit(f"no converted models in {models}: run the app once with --cache-dir {source}")
    for folder in models.iterdir():
        if folder.is_dir() and not folder.name.startswith("."):
            shutil.copytree(folder, target / "models" / folder.name, copy_function=os.link)


def commands(repo: Path, work: Path, folder: Path | None, models: str) -> dict[str, list[str]]:
    """Each stage's command line in one checkout, on that checkout's own cache and data under ``work``."""
    cache, data = work / "cache", work / "data"
    app = [sys.executable, str(repo / "app.py"), "--data-dir", str(data), "--cache-dir", str(cache)]
    out = {
        "baseline": [sys.executable, "-c", BASELINE, str(cache)],
        "planner": [
            sys.executable, "-m", "search.application.backend_plans",
            "--model", "multilingual-e5-small", "--cache-dir", str(cache),
        ],
        "eval": [*app, "--no-embedding-cache", "eval", "--queries",
                 str(repo / "sample_corpora" / "queryset"), "--models", models],
    }  # fmt: skip
    if folder is not None:
        out["index"] = [*app, "--no-embedding-cache", "index", str(folder), "--json"]
    return out


def index_folder(args: argparse.Namespace, work: Path) -> Path:
    if args.folder is not None:
        return Path(args.folder)
    if args.files:
        from benchmarks.gen_corpus import main as generate

        folder = work / f"generated-{args.files}"
        if not folder.exists():
            generate([str(folder), "--files", str(args.files)])
        return folder
    from benchmarks.debian_manual import real_folder

    return real_folder(work / "debian-reference")


def note(stage: str, run: Run, log: Path) -> str:
    if run.code != 0:
        return f"exit {run.code}: see {log.with_suffix('.err')}"
    if stage == "index":
        report = json.loads(log.read_text(encoding="utf-8"))
        return f"{report['chunks_written']:,} chunks"
    return ""


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cache-dir", type=Path, required=True, help="a cache with the converted models")
    parser.add_argument("--stages", default=",".join(STAGES))
    parser.add_argument("--baseline", type=Path, help="a checkout to measure first (before), same venv")
    parser.add_argument(
        "--folder", type=Path, help="index this folder (default: the Debian Reference's files)"
    )
    parser.add_argument("--files", type=int, help="index a generated folder of this many files instead")
    parser.add_argument("--models", default=DEFAULT_MODELS, help="models of the evaluation")
    parser.add_argument(
        "--parallel",
        action="store_true",
        help="run each stage's before and after side by side (peaks stay per run; seconds are then not comparable)",
    )
    parser.add_argument("--work", type=Path, help="keep the caches, data and logs here (default: temporary)")
    args = parser.parse_args(argv)
    stages = [s for s in args.stages.split(",") if s]
    work = args.work or Path(tempfile.mkdtemp(prefix="stage-memory-"))
    work.mkdir(parents=True, exist_ok=True)
    folder = index_folder(args, work) if "index" in stages else None
    checkouts = {"before": args.baseline.resolve(), "after": REPO} if args.baseline else {"after": REPO}
    plans = {}
    for label, repo in checkouts.items():
        if not (work / label / "cache" / "models").is_dir():
            linked_models(args.cache_dir.expanduser(), work / label / "cache")
        plans[label] = commands(repo, work / label, folder, args.models)
    what = {
        "baseline": "e5-small loaded (torch fp32), one batch of 32 passages",
        "planner": "first launch's backend plan (fresh cache: ONNX export, bf16, timing)",
        "index": f"app.py index {folder.name if folder else ''}",
        "eval": f"eval of the sample query set, {args.models}",
    }
    rows = []
    for stage in stages:
        runs: dict[str, Run] = {}
        notes = []
        logs = {label: work / label / f"{stage}.log" for label in checkouts}
        if args.parallel:
            with ThreadPoolExecutor(len(checkouts)) as pool:
                started = {
                    label: pool.submit(run_child, plans[label][stage], logs[label], repo)
                    for label, repo in checkouts.items()
                }
                runs = {label: future.result() for label, future in started.items()}
        for label, repo in checkouts.items():
            log = logs[label]
            if label not in runs:
                runs[label] = run_child(plans[label][stage], log, repo)
            run = runs[label]
            notes.append(f"{label}: {note(stage, run, log)}" if note(stage, run, log) else "")
            print(
                f"{stage} {label}: peak {run.peak_mb:,.0f} MB (with children {run.tree_mb:,.0f} MB) "
                f"in {run.seconds:.0f} s; load {os.getloadavg()[0]:.1f}",
                file=sys.stderr,
                flush=True,
            )
        after = runs["after"]
        goal = GOALS_MB.get(stage)
        verdict = "" if goal is None else ("met" if after.tree_mb <= goal else "NOT met")
        before = runs.get("before")
        rows.append(
            [
                stage,
                "; ".join([what[stage], *(n for n in notes if n)]),
                f"{before.tree_mb:,.0f}" if before else "",
                f"{before.peak_mb:,.0f}" if before else "",
                f"{after.tree_mb:,.0f}",
                f"{after.peak_mb:,.0f}",
                f"{goal:,}" if goal else "",
                verdict,
                f"{before.seconds:.0f}" if before else "",
                f"{after.seconds:.0f}",
            ]
        )
    print(
        format_table(
            [
                "stage",
                "what",
                "before MB",
                "before, own MB",
                "after MB",
                "after, own MB",
                "goal MB",
                "goal",
                "s before",
                "s after",
            ],
            rows,
        )
    )
    for row in rows:
        if row[7]:
            print(f"goal {row[0]} <= {row[6]} MB peak RSS: {row[7]} ({row[4]} MB)")
    print(f"\nlogs, caches and data in {work}; load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
