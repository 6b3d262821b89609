"""``--backend auto``: measure the backends that pass the quality gate on this machine, keep the fastest.

Why: which way of running a model is fastest depends on the CPU. On a 2-core Xeon
with AMX, bf16 weights ran batches of passages 3x faster than ONNX Runtime fp32,
while ONNX answered single short queries fastest; on a CPU without native bf16,
bf16 is emulated and slower than fp32. So the app measures instead of assuming,
like FFTW's planner or cuDNN's benchmark mode: at a model's first use on a
machine, a few seconds of timing on a fixed multilingual probe, then the choice is
cached per model, CPU signature and library versions (``<cache>/plans/``).

The protocol (figures from the research behind issue 15):

* Candidates: torch fp32 (the reference), ONNX Runtime fp32 where installed, and
  bf16 weights where the CPU runs bf16 natively (bf16 under autocast only if the
  bf16 weights fail the gate). int8 never passes the gate and is not timed.
* Gate: every candidate's vectors of the probe (passages, queries, two texts at
  the length limit) must keep cosine >= 0.999 to fp32 torch. The XQuAD nDCG@10
  bar (within 0.5) is checked per backend by ``benchmarks/embed_options.py``;
  only backends that met it are candidates (``backends.PRECISION_ORDER``).
* Timing, one candidate at a time (each built, gated, timed and freed before the
  next is built: the planner holds one model, not all of them, 2.7-5 GB peak for
  e5-small before, see README): one warm-up pass, then rounds, each a batch
  of passages and single queries (median). A round in which other processes kept
  more than ``FOREIGN_LIMIT`` cores busy is timed again (two-thread runs collapse
  under foreign load), up to its share of a budget; the figures say how much
  foreign load there was. A candidate slower than the best first round before it
  by ``DROP_FACTOR`` on both workloads stops being timed, and any candidate that
  slow against the best first round of all is not chosen.
* Choice, per workload (passages for indexing, single queries for search): the
  most precise candidate unless a less precise one is at least ``MARGIN`` faster.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from search.core.memory import release_memory
from search.models.backends import PRECISION_ORDER
from search.models.cpu import CpuInfo, CpuSample, cpu_sample, foreign_cores
from search.models.reference_text import reference_sentences

log = logging.getLogger(__name__)

PLANNER_VERSION = "1"  # bump when the protocol or the probe changes: cached plans are redone
GATE_MIN_COSINE = 0.999
MARGIN = 1.10  # a less precise backend must be this much faster to be chosen
DROP_FACTOR = 1.5  # slower than the best by this on both workloads after round 1: stop timing it
FOREIGN_LIMIT = 0.2  # cores other processes may use during a round that counts as clean
ROUNDS = 3  # clean rounds wanted
MAX_ROUNDS = 6  # rounds at most, clean or not
BUDGET_S = 30.0  # no new round starts after this many seconds of timing
PROBE_DOCUMENTS = 32  # one batch: what indexing runs
PROBE_QUERIES = 12
PLANS_FOLDER = "plans"


class Candidate(Protocol):
    """What is timed: an embedder running one backend."""

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray: ...

    def encode_queries(self, texts: Sequence[str], task: str | None = None) -> np.ndarray: ...


@dataclass(frozen=True)
class Measurement:
    backend: str
    cosine_min: float | None = None  # against fp32 torch on the probe
    passed: bool = False
    docs_per_s: float | None = None  # probe passages per second, batch of PROBE_DOCUMENTS
    query_ms: float | None = None  # median latency of one query alone
    setup_s: float = 0.0  # building it (an ONNX export, a cast)
    rounds: int = 0  # timed rounds its figures come from
    dropped: bool = (
        False  # too slow on both workloads in the first round: not a choice (and not timed further)
    )
    error: str | None = None  # why it is not a candidate

    def summary(self) -> str:
        if self.error:
            return f"{self.backend}: not used ({self.error})"
        cos = f"cosine {self.cosine_min:.6f}" if self.cosine_min is not None else "reference"
        if not self.passed:
            return f"{self.backend}: {cos} < {GATE_MIN_COSINE}, fails the gate"
        if self.docs_per_s is None or self.query_ms is None:
            return f"{self.backend}: {cos}, not timed"
        dropped = " (too slow on both in the first round: not a choice)" if self.dropped else ""
        return f"{self.backend}: {self.docs_per_s:.1f} passages/s, {self.query_ms:.1f} ms a query{dropped}, {cos}"


@dataclass(frozen=True)
class Plan:
    """Which backend runs passages (indexing) and which runs single queries (search), and why."""

    documents: str
    queries: str
    reason: str
    measurements: tuple[Measurement, ...] = ()
    seconds: float = 0.0  # planning took
    foreign_cores: float | None = None  # median load other processes put on the CPU while timing
    clean_rounds: int = 0
    key: str = ""
    key_parts: Mapping[str, Any] = field(default_factory=dict)
    created: str = ""
    measured: bool = True  # False: a provisional choice from the CPU's facts, made without timing

    def measurement(self, backend: str) -> Measurement | None:
        return next((m for m in self.measurements if m.backend == backend), None)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["measurements"] = [asdict(m) for m in self.measurements]
        data["key_parts"] = dict(self.key_parts)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Plan:
        fields = dict(data)
        fields["measurements"] = tuple(Measurement(**m) for m in fields.get("measurements", ()))
        return cls(**fields)

    def describe(self) -> list[str]:
        """Lines for a person: the choice, why, and every candidate's figures."""
        lines = [f"passages (indexing): {self.documents}; queries (search): {self.queries}", self.reason]
        if self.measured:
            load = "unknown" if self.foreign_cores is None else f"{self.foreign_cores:.2f} cores"
            lines.append(
                f"measured in {self.seconds:.1f} s, {self.clean_rounds} clean round(s); "
                f"other processes' load while timing: {load}"
            )
        lines += [f"  {m.summary()}" for m in self.measurements]
        return lines


# ---------------------------------------------------------------- the key and the cache


def plan_key(
    model_id: str, weights: Sequence[str], cpu: CpuInfo, versions: Mapping[str, str], device: str = "cpu"
) -> tuple[str, dict[str, Any]]:
    """What a plan depends on: the model's files, the CPU, the libraries and the planner itself."""
    parts = {
        "planner": PLANNER_VERSION,
        "model": model_id,
        "weights": list(weights),
        "device": device,
        "cpu": cpu.signature(),
        "versions": dict(versions),
    }
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]
    return digest, parts


def plan_path(cache_dir: Path, model_id: str, key: str) -> Path:
    slug = "".join(c if c.isalnum() or c in "-_." else "-" for c in model_id)
    return cache_dir / PLANS_FOLDER / f"{slug}-{key}.json"


def load_plan(path: Path) -> Plan | None:
    """A cached plan, or None when there is none or it cannot be read (it is then made again)."""
    try:
        return Plan.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, KeyError):
        return None


def save_plan(path: Path, plan: Plan) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(plan.to_json(), indent=1, ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, path)


# ---------------------------------------------------------------- the probe


@dataclass(frozen=True)
class Probe:
    documents: tuple[str, ...]  # passages of 2-8 sentences (~40-250 tokens), 18 languages
    queries: tuple[str, ...]  # a few words each
    long: tuple[str, ...]  # at the length limit: the gate also covers far positions

    @property
    def gate_documents(self) -> list[str]:
        return [*self.documents, *self.long]


_NO_SPACES = ("ja", "th", "zh")


def probe() -> Probe:
    """Built from the project's parallel reference text (search/models/language_reference)."""
    texts = reference_sentences()
    langs = sorted(texts)
    n = len(texts[langs[0]])
    documents = []
    for i in range(PROBE_DOCUMENTS):
        lang = langs[i % len(langs)]
        first, count = (5 * i) % n, 2 + 2 * (i % 4)
        sentences = [texts[lang][(first + j) % n] for j in range(count)]
        documents.append(("" if lang in _NO_SPACES else " ").join(sentences))
    queries = []
    for i in range(PROBE_QUERIES):
        lang = langs[(3 * i) % len(langs)]
        sentence = texts[lang][(7 * i) % n]
        queries.append(sentence[:14] if lang in _NO_SPACES else " ".join(sentence.split()[:7]))
    long = tuple(("" if lang in _NO_SPACES else " ").join(texts[lang]) for lang in ("de", "zh"))
    return Probe(tuple(documents), tuple(queries), long)


# ---------------------------------------------------------------- measuring


class LoadMeter(Protocol):
    def sample(self) -> CpuSample | None: ...

    def foreign(self, start: CpuSample | None, end: CpuSample | None) -> float | None: ...


class SystemLoad:
    """Foreign load from the system's CPU counters (psutil)."""

    def sample(self) -> CpuSample | None:
        return cpu_sample()

    def foreign(self, start: CpuSample | None, end: CpuSample | None) -> float | None:
        return foreign_cores(start, end)


@dataclass
class _Timings:
    docs: list[float] = field(default_factory=list)  # seconds for the probe passages
    queries: list[float] = field(default_factory=list)  # median seconds of one query, per round


def measure(
    builders: Mapping[str, Callable[[], Candidate]],
    probe_texts: Probe,
    *,
    reference: str = "torch",
    fallbacks: Mapping[str, str] | None = None,
    clock: Callable[[], float] = time.perf_counter,
    load: LoadMeter | None = None,
    rounds: int = ROUNDS,
    max_rounds: int = MAX_ROUNDS,
    budget_s: float = BUDGET_S,
    release: Callable[[], None] | None = None,
) -> Plan:
    """Gate and time every candidate, one at a time; the plan.

    ``builders`` map a backend to a factory, called once (an ONNX export or a cast happens
    there); ``reference`` must be among them and is built first. ``fallbacks`` name a
    candidate to try when one fails the gate or cannot be built (bf16 weights -> bf16 under
    autocast). Each candidate is built, gated, warmed up and timed, then dropped and its
    memory given back (``release``) before the next is built: a model held per candidate
    (~0.5 GB each for e5-small) made the first launch's planner peak at 2.7-5 GB. Nothing
    measured is kept: the caller builds the chosen backends again (~1 s each).
    """
    load = load or SystemLoad()
    release = release or release_memory
    started = clock()
    fallbacks = fallbacks or {}
    pending = [reference] + [n for n in builders if n != reference and n not in fallbacks.values()]
    time_them = len(pending) > 1  # one candidate at most can pass: nothing to compare, no timing
    share_s = budget_s / len(pending)  # each candidate's part of the timing budget
    ref: tuple[np.ndarray, np.ndarray] | None = None
    measurements: dict[str, Measurement] = {}
    timings: dict[str, _Timings] = {}
    foreign: list[float] = []
    clean: dict[str, int] = {}
    while pending:
        release()  # the previous candidate is gone (no reference left to it): its memory goes back first
        name = pending.pop(0)
        built_at = clock()
        candidate: Candidate | None = None
        try:
            candidate = builders[name]()
            vectors = (_gate_documents(candidate, probe_texts), candidate.encode_queries(probe_texts.queries))
        except Exception as exc:
            candidate = None
            if name == reference:
                raise
            error = " ".join(str(exc).split())[:300]
            # The text, not the exception: a log record that kept it would keep the failed build's
            # frames, and whatever model they hold, alive beside the next candidate.
            log.info("backend %s not used: %s", name, error)
            measurements[name] = Measurement(name, error=error)
            if name in fallbacks:
                pending.insert(0, fallbacks[name])
            continue
        if ref is None:
            ref = vectors
            measurements[name] = Measurement(name, passed=True, setup_s=round(clock() - built_at, 3))
        else:
            docs, queries = vectors
            cosine = min(float((docs * ref[0]).sum(1).min()), float((queries * ref[1]).sum(1).min()))
            measurements[name] = Measurement(
                name,
                cosine_min=round(cosine, 7),
                passed=cosine >= GATE_MIN_COSINE,
                setup_s=round(clock() - built_at, 3),
            )
        if measurements[name].passed and time_them:
            timings[name], clean[name], loads = _time_candidate(
                name, candidate, probe_texts, clock, load, timings, rounds, max_rounds, share_s
            )
            foreign += loads
        elif name in fallbacks:
            pending.insert(0, fallbacks[name])
        candidate = None  # the only reference to it: its model is freed here, before the next is built
    release()
    passed = [name for name, m in measurements.items() if m.passed]
    if len(passed) == 1:  # nothing to compare: no figures
        (only,) = passed
        plan = Plan(only, only, f"{only}, the only candidate that passed the gate", _ordered(measurements))
        return replace(plan, seconds=round(clock() - started, 3), created=_now())
    survivors = _survivors([name for name in passed if name in timings], timings)
    plan = _choose(survivors, timings, measurements, len(probe_texts.documents))
    return replace(
        plan,
        seconds=round(clock() - started, 3),
        foreign_cores=round(statistics.median(foreign), 3) if foreign else None,
        clean_rounds=min((clean[name] for name in survivors), default=0),
        created=_now(),
    )


def _time_candidate(
    name: str,
    candidate: Candidate,
    probe_texts: Probe,
    clock: Callable[[], float],
    load: LoadMeter,
    earlier: Mapping[str, _Timings],
    rounds: int,
    max_rounds: int,
    budget_s: float,
) -> tuple[_Timings, int, list[float]]:
    """One candidate's timings (a warm-up, then rounds), its clean rounds and each round's foreign load.

    A round in which other processes kept more than ``FOREIGN_LIMIT`` cores busy is timed
    again, up to ``max_rounds`` or ``budget_s``. After its first round a candidate slower by
    ``DROP_FACTOR`` on both workloads than the best first round of those timed before it is
    not timed further (``_survivors`` drops it from the choice, as it would against all).
    """
    candidate.encode_documents(probe_texts.documents)  # first shapes, kernel choice, arenas
    for query in probe_texts.queries[:2]:
        candidate.encode_queries([query])
    timings = _Timings()
    foreign: list[float] = []
    clean = 0
    started = clock()
    for round_ in range(max_rounds):
        if round_ >= rounds and (clean >= rounds or clock() - started > budget_s):
            break
        docs_s, query_s, loads = _time_once(candidate, probe_texts, clock, load)
        timings.docs.append(docs_s)
        timings.queries.append(query_s)
        worst = max(loads, default=None)
        if worst is not None:
            foreign.append(worst)
        clean += worst is None or worst <= FOREIGN_LIMIT
        if round_ == 0 and earlier and name not in _survivors([*earlier, name], {**earlier, name: timings}):
            break
    return timings, clean, foreign


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _ordered(measurements: Mapping[str, Measurement]) -> tuple[Measurement, ...]:
    return tuple(sorted(measurements.values(), key=lambda m: _precision_rank(m.backend)))


def _gate_documents(candidate: Candidate, probe_texts: Probe) -> np.ndarray:
    """The gate's passage vectors: the probe's passages, then the texts at the length limit on their own.

    Together they would share a batch padded to the limit (32 rows of 512 tokens for e5): ONNX
    Runtime's arena keeps what that batch needed for the life of the session, and the first
    launch's planner peaked at 5 GB. Apart, the long texts are one batch of two.
    """
    return np.vstack(
        [candidate.encode_documents(probe_texts.documents), candidate.encode_documents(probe_texts.long)]
    )


def _time_once(
    candidate: Candidate, probe_texts: Probe, clock: Callable[[], float], load: LoadMeter
) -> tuple[float, float, list[float]]:
    loads = []
    before = load.sample()
    started = clock()
    candidate.encode_documents(probe_texts.documents)
    docs_s = clock() - started
    latencies = []
    for query in probe_texts.queries:
        started = clock()
        candidate.encode_queries([query])
        latencies.append(clock() - started)
    foreign = load.foreign(before, load.sample())
    if foreign is not None:
        loads.append(foreign)
    return docs_s, statistics.median(latencies), loads


def _survivors(names: list[str], timings: Mapping[str, _Timings]) -> list[str]:
    best_docs = min(timings[n].docs[0] for n in names)
    best_query = min(timings[n].queries[0] for n in names)
    return [
        n
        for n in names
        if timings[n].docs[0] <= DROP_FACTOR * best_docs or timings[n].queries[0] <= DROP_FACTOR * best_query
    ]


def pick(seconds: Mapping[str, float]) -> str:
    """The most precise backend unless a less precise one takes at most 1/MARGIN of its time."""
    order = sorted(seconds, key=_precision_rank)
    best = order[0]
    for name in order[1:]:
        if seconds[name] * MARGIN < seconds[best]:
            best = name
    return best


def _precision_rank(name: str) -> int:
    return PRECISION_ORDER.index(name) if name in PRECISION_ORDER else len(PRECISION_ORDER)


def _choose(
    timed: list[str], timings: Mapping[str, _Timings], measurements: dict[str, Measurement], documents: int
) -> Plan:
    final = dict(measurements)
    for name, t in timings.items():
        if t.docs:
            final[name] = replace(
                final[name],
                docs_per_s=round(documents / statistics.median(t.docs), 2),
                query_ms=round(1000 * statistics.median(t.queries), 3),
                rounds=len(t.docs),
                dropped=name not in timed,
            )
    docs = {n: statistics.median(t.docs) for n, t in timings.items() if t.docs}
    queries = {n: statistics.median(t.queries) for n, t in timings.items() if t.queries}
    doc_choice = pick({n: docs[n] for n in timed})
    query_choice = pick({n: queries[n] for n in timed})
    reason = (
        f"passages: {_why(doc_choice, docs, 'passages/s', documents)}; "
        f"queries: {_why(query_choice, queries, 'ms', None)}"
    )
    return Plan(doc_choice, query_choice, reason, _ordered(final))


def _why(choice: str, seconds: Mapping[str, float], unit: str, documents: int | None) -> str:
    others = [n for n in seconds if n != choice]
    if not others:
        return f"{choice}, the only candidate that passed the gate"

    def figure(n: str) -> str:
        return f"{documents / seconds[n]:.1f} {unit}" if documents else f"{1000 * seconds[n]:.1f} {unit}"

    rival = min(others, key=lambda n: seconds[n])
    ratio = seconds[rival] / seconds[choice]
    if ratio >= 1:
        return f"{choice} ({figure(choice)}) is {ratio:.2f}x the next, {rival} ({figure(rival)})"
    return (
        f"{choice} ({figure(choice)}) kept: {rival} ({figure(rival)}) is less precise and "
        f"not {MARGIN:.2f}x faster"
    )


def provisional(cpu: CpuInfo, bf16_ok: bool, reason: str) -> Plan:
    """The choice before any timing: bf16 where the CPU runs it natively, else torch fp32 (nothing to export)."""
    choice = "bf16" if cpu.native_bf16 and bf16_ok else "torch"
    return Plan(choice, choice, reason, measured=False)
