"""Peak memory of the heavy stages a user meets in the first hour, each in a child process of its own.

Why: the app runs on laptops beside a browser; issue 25 measured the first launch's background
backend planner at 5.34 GB peak RSS, indexing a real 10,620-chunk folder at 3.41 GB and the
three-model evaluation at 4.54 GB (goals: 1.5 GB for the planner, 2 GB for indexing and
evaluation). One row per stage, peak RSS from the child's own rusage (``os.wait4``), beside
the model alone (loading e5-small and embedding one batch) as the baseline:

* planner: ``python -m search.models.encoders.planning`` on a cache with the converted model and
  nothing else (no plan, no ONNX export), as the UI starts it after its first launch;
* index: ``app.py index`` of a generated multilingual folder (benchmarks.gen_corpus, ~5 chunks a
  file) or ``--folder``, on the cache the planner left (the plan is measured, as on a relaunch);
* eval: ``app.py --no-embedding-cache eval`` of the sample query set with ``--models``.

Model folders are hard-linked from ``--cache-dir`` (converted or distilled there before: run the
app or this once without it), so no stage converts or distills a model.

    python -m benchmarks.stage_memory --cache-dir ~/.cache/multilingual-search
    python -m benchmarks.stage_memory --cache-dir DIR --files 2000 --stages planner,index,eval
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

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


def run_child(command: Sequence[str], log: Path) -> tuple[float, float, int]:
    """(peak RSS MB, seconds, exit code) of one child process; its stdout in ``log``, stderr beside."""
    started = time.perf_counter()
    with log.open("w", encoding="utf-8") as out, log.with_suffix(".err").open("w", encoding="utf-8") as err:
        process = subprocess.Popen(
            list(command), cwd=REPO, stdout=out, stderr=err, env={**os.environ, "PYTHONPATH": str(REPO)}
        )
        _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss / 1024, time.perf_counter() - started, process.returncode


def linked_models(source: Path, target: Path) -> None:
    """A cache holding only the source cache's model folders, hard-linked (no plan, no ONNX export)."""
    models = source / "models"
    if not models.is_dir():
        raise SystemExit(f"no converted models in {models}: run the app once with --cache-dir {source}")
    for folder in models.iterdir():
        if folder.is_dir() and not folder.name.startswith("."):
            shutil.copytree(folder, target / "models" / folder.name, copy_function=os.link)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cache-dir", type=Path, required=True, help="a cache with the converted models")
    parser.add_argument("--stages", default=",".join(STAGES))
    parser.add_argument("--folder", type=Path, help="index this folder (default: a generated one)")
    parser.add_argument(
        "--files", type=int, default=2000, help="files of the generated folder (~5 chunks each)"
    )
    parser.add_argument("--models", default=DEFAULT_MODELS, help="models of the evaluation")
    parser.add_argument("--work", type=Path, help="keep the caches, data and logs here (default: temporary)")
    args = parser.parse_args(argv)
    stages = [s for s in args.stages.split(",") if s]
    work = args.work or Path(tempfile.mkdtemp(prefix="stage-memory-"))
    work.mkdir(parents=True, exist_ok=True)
    cache, data = work / "cache", work / "data"
    if not (cache / "models").is_dir():
        linked_models(args.cache_dir.expanduser(), cache)
    app = [sys.executable, str(REPO / "app.py"), "--data-dir", str(data), "--cache-dir", str(cache)]
    commands: dict[str, list[str]] = {
        "baseline": [sys.executable, "-c", BASELINE, str(cache)],
        "planner": [
            sys.executable, "-m", "search.models.encoders.planning",
            "--model", "multilingual-e5-small", "--cache-dir", str(cache),
        ],
        "eval": [*app, "--no-embedding-cache", "eval", "--queries",
                 str(REPO / "sample_corpora" / "queryset"), "--models", args.models],
    }  # fmt: skip
    what = {
        "baseline": "e5-small loaded (torch fp32), one batch of 32 passages",
        "planner": "first launch's backend plan (fresh cache: ONNX export, bf16, timing)",
        "eval": f"eval of the sample query set, {args.models}",
    }
    if "index" in stages:
        folder = args.folder
        if folder is None:
            folder = work / "folder"
            if not folder.exists():
                from benchmarks.gen_corpus import main as generate

                generate([str(folder), "--files", str(args.files)])
        commands["index"] = [*app, "--no-embedding-cache", "index", str(folder), "--json"]
        what["index"] = f"app.py index {folder.name}"
    rows = []
    for stage in stages:
        peak, seconds, code = run_child(commands[stage], work / f"{stage}.log")
        note = "" if code == 0 else f" (exit {code}: see {work / (stage + '.err')})"
        if stage == "index" and code == 0:
            report = json.loads((work / "index.log").read_text(encoding="utf-8"))
            note = f" ({report['chunks_written']:,} chunks)"
        goal = GOALS_MB.get(stage)
        verdict = "" if goal is None else ("met" if peak <= goal else "NOT met")
        rows.append(
            [
                stage,
                what[stage] + note,
                f"{peak:,.0f}",
                f"{goal:,}" if goal else "",
                verdict,
                f"{seconds:.0f}",
            ]
        )
        print(f"{stage}: peak {peak:,.0f} MB in {seconds:.0f} s{note}", file=sys.stderr, flush=True)
    print(format_table(["stage", "what", "peak RSS MB", "goal MB", "goal", "seconds"], rows))
    print(f"\nlogs, caches and data in {work}; load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
