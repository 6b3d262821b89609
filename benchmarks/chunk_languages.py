"""Chunk language identification on real text: every candidate, per language and chunk length.

Why: the language of each chunk decides which language mean the correction subtracts
(search/models/language_bias.py) and what a language filter keeps. Sources, all real text:

* tatoeba: sentences of 70 languages (../shared/evaldata/tatoeba) joined into windows of at
  least 30, 70, 140, 280 and 560 characters, 40 per language and length. The first half of
  each file's lines is the development split (where the identifier's constants were chosen),
  the second half the test split. Caveat: lid.176 was trained with Tatoeba among its sources.
* manuals: technical text with commands, paths, package tables and URLs inline, extracted and
  chunked by the app's own loader and chunker (bundled model's tokenizer):
  - the Debian Reference (apt: debian-reference-{en,de,fr,ja,es,it,pt,id,zh-cn,zh-tw}),
    HTML chapters; pr01 and ch01-ch06 are the development split, the rest the test split;
  - the Debian installation guide (apt: installation-guide-amd64), 19 languages, test only;
  - translated man pages (apt: manpages-xx for 25 languages), rendered by ``man``, test only.
  Translations leave paragraphs in English, so each chunk's true language comes from the
  English edition: sentences found verbatim in it are English, the others are the
  translation's; Han, kana and Hangul letters count with their weight (scripts.LETTER_WEIGHTS)
  and a table cell or sentence that is a third CJK is the translation's. A chunk is the
  translation's (or English) when that side has two thirds of its prose letters, "mixed"
  otherwise (either answer counts), "none" when it has no prose (code, numbers: any answer).
  The app's label is the indexer's: the chunk's own, the document's when that is "und".
* queries: short texts as a search reads them (XQuAD questions of 12 languages and 2-word
  windows cut from them, Tatoeba windows of 1-3 words, the sample queries).

Candidates: the app's default ("fasttext": fastText lid.176 after the prose filter and the
script vote, lingua settling the languages lid.176 confuses), "fasttext-alone", "lingua"
(low-accuracy mode), "langdetect", and with ``--baseline DIR`` the identifier of another
checkout (before this one: fastText or langdetect on the raw text, script by majority).

    python -m benchmarks.chunk_languages --split test --baseline ../main    # the README's figures
    python -m benchmarks.chunk_languages --split dev                         # where constants were chosen
    python -m benchmarks.chunk_languages --parts tatoeba --per-language      # the table per language
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from benchmarks.common import REPO, evaldata_dir, format_table
from search.core.types import UNDETERMINED
from search.models.embedder import TokenCounter

Detect = Callable[[str, int], str]  # (text, min_letters) -> code
QueryDetect = Callable[[str], str]

# Tatoeba's 639-3 file codes -> the code the app reports (lid.176's labels).
TATOEBA_LANGUAGES = {
    "afr": "af", "ara": "ar", "aze": "az", "bel": "be", "ben": "bn", "bos": "bs", "bre": "br",
    "bul": "bg", "cat": "ca", "ces": "cs", "cmn": "zh", "cym": "cy", "dan": "da", "deu": "de",
    "ell": "el", "epo": "eo", "est": "et", "eus": "eu", "fin": "fi", "fra": "fr", "gle": "ga",
    "glg": "gl", "heb": "he", "hin": "hi", "hrv": "hr", "hun": "hu", "hye": "hy", "ind": "id",
    "isl": "is", "ita": "it", "jpn": "ja", "kat": "ka", "kaz": "kk", "khm": "km", "kor": "ko",
    "lat": "la", "lit": "lt", "lvs": "lv", "mal": "ml", "mar": "mr", "mkd": "mk", "mon": "mn",
    "nld": "nl", "nno": "nn", "nob": "no", "pes": "fa", "pol": "pl", "por": "pt", "ron": "ro",
    "rus": "ru", "slk": "sk", "slv": "sl", "spa": "es", "sqi": "sq", "srp": "sr", "swe": "sv",
    "swh": "sw", "tam": "ta", "tat": "tt", "tel": "te", "tgl": "tl", "tha": "th", "tur": "tr",
    "uig": "ug", "ukr": "uk", "urd": "ur", "uzb": "uz", "vie": "vi", "yid": "yi", "zsm": "ms",
    "eng": "en",
}  # fmt: skip
# Standards of one language that no detector here tells apart reliably: scored strictly in the
# tables, and once more with each group counted as one language (said where it is).
CLOSE_GROUPS = ({"bs", "hr", "sr", "sh"}, {"id", "ms"})
LENGTHS = (30, 70, 140, 280, 560)
LONG = 100  # the target's "chunks of 100+ characters"
WINDOWS = 40
NO_SPACES = frozenset({"cmn", "jpn", "tha", "khm"})
DEBIAN_REFERENCE = Path("/usr/share/debian-reference")
INSTALLATION_GUIDE = Path("/usr/share/doc/installation-guide-amd64")
MAN = Path("/usr/share/man")
REFERENCE_DEV_CHAPTERS = frozenset({"pr01", "ch01", "ch02", "ch03", "ch04", "ch05", "ch06"})
EDITION_LANGUAGE = {"zh-cn": "zh", "zh-tw": "zh", "zh_CN": "zh", "zh_TW": "zh", "pt_BR": "pt", "nb": "no"}
CJK_LANGUAGES = frozenset({"ja", "zh", "ko"})


# ---- Tatoeba windows --------------------------------------------------------------------------


def tatoeba_windows(evaldata: Path, split: str, per_length: int = WINDOWS) -> dict[str, dict[int, list[str]]]:
    """Language (app code) -> length -> windows of consecutive sentences from ``split``'s half."""
    out: dict[str, dict[int, list[str]]] = {}
    for code, app in TATOEBA_LANGUAGES.items():
        pair = "deu" if code == "eng" else code
        side = "eng" if code == "eng" else code
        path = evaldata / "tatoeba" / f"tatoeba.{pair}-eng.{side}"
        lines = [s.strip() for s in path.read_text(encoding="utf-8").splitlines() if s.strip()]
        half = len(lines) // 2
        sentences = lines[:half] if split == "dev" else lines[half:]
        rng = random.Random(f"{code}-{split}")
        sep = "" if code in NO_SPACES else " "
        by_length: dict[int, list[str]] = {}
        for length in LENGTHS:
            windows = []
            for _ in range(per_length):
                i = rng.randrange(len(sentences))
                window = ""
                while len(window) < length:
                    window = f"{window}{sep}{sentences[i % len(sentences)]}" if window else sentences[i]
                    i += 1
                windows.append(window)
            by_length[length] = windows
        out[app] = by_length
    return out


# ---- manuals: the app's chunks of real technical text, with their true language --------------


@dataclass
class LabelledChunk:
    source: str  # "debian-reference", "installation-guide", "man"
    document: str  # e.g. "ch09.ja"
    edition: str  # the translation's language (app code)
    text: str
    doc_language_text: str = field(repr=False, default="")  # the whole document, for its own label
    gold: str = ""  # the true language, "mixed:<edition>" or "none"


_WORD = re.compile(r"^[(\"'«“„]?[^\W\d_][^\W\d_A-Z]+[)\"'»”]?[,.;:!?)]*$")
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_SENTENCE_END = re.compile(r"(?<=[.!?:;。！？])\s+")


def _weight(ch: str) -> float:
    from search.text.scripts import LETTER_WEIGHTS, _script_of

    return LETTER_WEIGHTS.get(_script_of(ch) or "", 1.0)


def _letters(text: str) -> float:
    return sum(_weight(ch) for ch in text if ch.isalpha())


def _units(text: str) -> Iterable[str]:
    """Lines, table cells and sentences: what a translator translates one at a time."""
    for line in text.splitlines():
        for cell in line.split(" | "):
            for sentence in _SENTENCE_END.split(cell):
                if _key(sentence):
                    yield sentence


def _key(unit: str) -> str:
    return "".join(ch for ch in unit.lower() if ch.isalpha())


def _prose_letters(unit: str) -> float:
    tokens = unit.split()
    words = [t for t in tokens if _WORD.match(t)]
    return _letters(" ".join(words)) if len(words) >= 3 and len(words) * 2 >= len(tokens) else 0.0


def label_chunks(chunks: Sequence[LabelledChunk], english: set[str]) -> None:
    """Set each chunk's ``gold`` from the English edition's units (see the module doc)."""
    for chunk in chunks:
        if chunk.edition == "en":
            chunk.gold = "en"
            continue
        mine = other = 0.0
        for unit in _units(chunk.text):
            if chunk.edition in CJK_LANGUAGES and _CJK.search(unit):
                cjk = sum(_weight(ch) for ch in unit if _CJK.match(ch))
                total = _letters(unit)
                if cjk * 3 >= total:
                    mine += total
                    continue
                mine += cjk
            prose = _prose_letters(unit)
            if chunk.edition in CJK_LANGUAGES or _key(unit) in english:
                other += prose
            else:
                mine += prose
        if mine == 0 and other == 0:
            chunk.gold = "none"
        elif mine >= 2 * other:
            chunk.gold = chunk.edition
        elif other >= 2 * mine:
            chunk.gold = "en"
        else:
            chunk.gold = f"mixed:{chunk.edition}"


Chunker = Callable[[Path, Path], tuple[str, list[str]]]


def app_chunker(counter: TokenCounter, budget: int, with_languages: list[str] | None = None) -> Chunker:
    """(file, root) -> (document text, chunk texts), as the indexer extracts and chunks them.

    ``with_languages``: a list that receives each chunk's language as the indexer labels it.
    """
    from indexer.chunking import chunk_document
    from indexer.extract.loaders import LoaderConfig, load_document

    config = LoaderConfig()

    def chunk(path: Path, root: Path) -> tuple[str, list[str]]:
        document = load_document(path, root, config)
        chunks = chunk_document(document, counter, budget, 32)
        if with_languages is not None:
            with_languages.extend(c.language for c in chunks)
        return document.text, [c.text for c in chunks]

    return chunk


def _chunker(cache_dir: Path | None) -> Chunker:
    """The bundled model's tokenizer counts, as the indexer's chunker uses it."""
    from indexer.pipeline import IndexConfig, chunk_budget
    from search.models.loading import load_embedder

    embedder = load_embedder("multilingual-e5-small", cache_dir=cache_dir, backend="torch")
    return app_chunker(embedder, chunk_budget(embedder, IndexConfig()))


def debian_reference(
    chunk: Chunker, split: str, chapters: Collection[str] = (), editions: Collection[str] = ()
) -> list[LabelledChunk]:
    """The Debian Reference's chunks of ``split`` (or of these ``chapters``; ``editions``: these only)."""
    if not DEBIAN_REFERENCE.is_dir():
        return []
    out: list[LabelledChunk] = []
    english: set[str] = set()
    for path in sorted(DEBIAN_REFERENCE.glob("*.*.html")):
        chapter, edition = path.name.split(".")[:2]
        if chapters and chapter not in chapters:
            continue
        if not chapters and (chapter in REFERENCE_DEV_CHAPTERS) != (split == "dev"):
            continue
        if editions and edition not in editions and edition != "en":
            continue
        text, chunks = chunk(path, DEBIAN_REFERENCE)
        language = EDITION_LANGUAGE.get(edition, edition)
        if language == "en":
            english.update(_key(u) for c in chunks for u in _units(c))
        out.extend(
            LabelledChunk("debian-reference", f"{chapter}.{edition}", language, c, text) for c in chunks
        )
    label_chunks(out, english)
    return out


def installation_guide(chunk: Chunker) -> list[LabelledChunk]:
    if not INSTALLATION_GUIDE.is_dir():
        return []
    out: list[LabelledChunk] = []
    english: set[str] = set()
    for folder in sorted(p for p in INSTALLATION_GUIDE.iterdir() if p.is_dir()):
        language = EDITION_LANGUAGE.get(folder.name, folder.name)
        for path in sorted(folder.glob("ch0[2-6]*.html")):  # the chapters a user reads; the rest repeats them
            text, chunks = chunk(path, folder)
            if language == "en":
                english.update(_key(u) for c in chunks for u in _units(c))
            out.extend(
                LabelledChunk("installation-guide", f"{folder.name}/{path.stem}", language, c, text)
                for c in chunks
            )
    label_chunks(out, english)
    return out


def man_pages(chunk: Chunker, work: Path, per_language: int) -> list[LabelledChunk]:
    """Translated man pages with an English original, rendered by ``man`` and unwrapped to paragraphs."""
    if not MAN.is_dir() or not _has_man():
        return []
    out: list[LabelledChunk] = []
    english: set[str] = set()
    rendered = work / "man"
    for folder in sorted(p for p in MAN.iterdir() if p.is_dir() and not p.name.startswith("man")):
        language = EDITION_LANGUAGE.get(folder.name, folder.name)
        pages = sorted(
            page
            for section in ("man1", "man5", "man8")
            for page in (folder / section).glob("*.gz")
            if (MAN / section / page.name).is_file()
        )
        step = max(1, len(pages) // per_language)
        for page in pages[::step][:per_language]:
            for lang, source in ((folder.name, page), ("en", MAN / page.parent.name / page.name)):
                target = rendered / lang / f"{page.parent.name}-{page.name[: -len('.gz')]}.txt"
                if not target.is_file():
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_text(_render(source), encoding="utf-8")
                if lang == "en":
                    if target.stat().st_size:
                        _, chunks = chunk(target, target.parent)
                        english.update(_key(u) for c in chunks for u in _units(c))
                    continue
                if target.stat().st_size < 200:
                    continue
                text, chunks = chunk(target, target.parent)
                out.extend(
                    LabelledChunk("man", f"{folder.name}/{target.stem}", language, c, text) for c in chunks
                )
    label_chunks(out, english)
    return out


def _has_man() -> bool:
    return subprocess.run(["sh", "-c", "command -v man"], capture_output=True, check=False).returncode == 0


def _render(page: Path) -> str:
    env = {**os.environ, "MANWIDTH": "100", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "MAN_KEEP_FORMATTING": ""}
    done = subprocess.run(["man", "-l", str(page)], capture_output=True, env=env, timeout=120, check=False)
    text = done.stdout.decode("utf-8", "replace")
    text = re.sub(r".\x08", "", text)  # overstrike (bold, underline)
    paragraphs = [
        " ".join(line.strip() for line in block.splitlines()) for block in re.split(r"\n\s*\n", text)
    ]
    return "\n\n".join(p for p in paragraphs if p)


# ---- candidates ---------------------------------------------------------------------------------


def candidates(baseline: Path | None) -> tuple[dict[str, Detect], dict[str, QueryDetect]]:
    from search.text.language import LANGUAGE_DETECTORS, detect_language
    from search.text.query_language import detect_query_language

    chunk_detectors: dict[str, Detect] = {}
    if baseline is not None:
        old = _load(baseline / "search" / "text" / "language.py", "baseline_language")
        chunk_detectors["before (baseline)"] = lambda text, m: old.detect_language(text, min_letters=m)
    for name in LANGUAGE_DETECTORS:
        chunk_detectors[name] = lambda text, m, name=name: detect_language(text, m, name)  # type: ignore[misc]
    query_detectors: dict[str, QueryDetect] = {}
    if baseline is not None:
        old_query = _load(baseline / "search" / "text" / "query_language.py", "baseline_query_language")
        query_detectors["before (baseline)"] = lambda text: old_query.detect_query_language(text).code
    query_detectors["app (fasttext)"] = lambda text: detect_query_language(text).code
    return chunk_detectors, query_detectors


def _load(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        sys.exit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _right(got: str, truth: str, close: bool) -> bool:
    if got == truth:
        return True
    return close and any(got in group and truth in group for group in CLOSE_GROUPS)


# ---- reports ------------------------------------------------------------------------------------


def report_tatoeba(evaldata: Path, split: str, detectors: dict[str, Detect], per_language: bool) -> None:
    windows = tatoeba_windows(evaldata, split)
    from search.text.language import DEFAULT_DETECTOR, MIN_LETTERS

    answers: dict[str, dict[str, dict[int, list[str]]]] = {}
    seconds: dict[str, float] = {}
    for name, detect in detectors.items():
        t0 = time.perf_counter()
        answers[name] = {
            lang: {length: [detect(w, MIN_LETTERS) for w in ws] for length, ws in by_length.items()}
            for lang, by_length in windows.items()
        }
        seconds[name] = time.perf_counter() - t0
    calls = sum(len(ws) for by_length in windows.values() for ws in by_length.values())

    def accuracy(name: str, lang: str | None, lengths: Sequence[int], close: bool = False) -> float:
        langs = [lang] if lang else list(windows)
        pairs = [
            (got, truth) for truth in langs for length in lengths for got in answers[name][truth][length]
        ]
        return 100 * sum(_right(got, truth, close) for got, truth in pairs) / len(pairs)

    long = [length for length in LENGTHS if length >= LONG]
    rows = []
    for name in detectors:
        und = sum(
            got == UNDETERMINED for lang in windows for ws in answers[name][lang].values() for got in ws
        )
        rows.append(
            [
                name,
                *(accuracy(name, None, [length]) for length in LENGTHS),
                accuracy(name, None, long),
                accuracy(name, None, long, close=True),
                und,
                1e6 * seconds[name] / calls,
            ]
        )
    print(f"\nTatoeba windows, {split} split: {len(windows)} languages x {len(LENGTHS)} lengths x {WINDOWS}")
    print(
        format_table(
            [
                "candidate",
                *(f">={n} chars %" for n in LENGTHS),
                f">={LONG} chars %",
                f">={LONG}, close standards as one %",
                "und",
                "us/call",
            ],
            rows,
        )
    )
    if per_language:
        table = [
            [
                lang,
                *(accuracy(name, lang, long) for name in detectors),
                accuracy(DEFAULT_DETECTOR, lang, [30]),
            ]
            for lang in sorted(windows)
        ]
        print(
            f"\nper language, windows of {LONG}+ characters (last column: {DEFAULT_DETECTOR}, 30+ characters)"
        )
        print(format_table(["language", *detectors, "short"], table))


def report_manuals(chunks: Sequence[LabelledChunk], title: str, detectors: dict[str, Detect]) -> None:
    """Accuracy per edition: chunks in the translation's language, chunks left in English, "und" on prose."""
    from indexer.chunking import CHUNK_LANGUAGE_MIN_LETTERS, CHUNK_LANGUAGE_SAMPLE

    if not chunks:
        print(f"\n{title}: not installed (see the module doc for the apt packages)")
        return
    by_doc: dict[str, list[LabelledChunk]] = defaultdict(list)
    for c in chunks:
        by_doc[c.document].append(c)
    got: dict[str, dict[int, str]] = {}
    per_chunk: dict[str, float] = {}
    for name, detect in detectors.items():
        labels: dict[int, str] = {}
        seconds = 0.0
        for doc_chunks in by_doc.values():
            doc_language = detect(doc_chunks[0].doc_language_text, 20)
            t0 = time.perf_counter()
            for c in doc_chunks:
                own = detect(c.text[:CHUNK_LANGUAGE_SAMPLE], CHUNK_LANGUAGE_MIN_LETTERS)
                labels[id(c)] = doc_language if own == UNDETERMINED else own  # as the chunker assigns it
            seconds += time.perf_counter() - t0
        got[name] = labels
        per_chunk[name] = 1e6 * seconds / len(chunks)
    editions = sorted({c.edition for c in chunks})
    rows = []
    for edition in editions:
        mine = [c for c in chunks if c.edition == edition and c.gold == edition]
        english = [c for c in chunks if c.edition == edition and c.gold == "en" and edition != "en"]
        prose = [c for c in chunks if c.edition == edition and c.gold != "none"]
        row: list[object] = [edition, len(mine), len(english)]
        for name in detectors:
            row.append(100 * sum(got[name][id(c)] == edition for c in mine) / max(1, len(mine)))
        for name in detectors:
            row.append(sum(got[name][id(c)] == UNDETERMINED for c in prose))
        row.append(_worst_document(by_doc, edition, got[list(detectors)[-1]]))
        rows.append(row)
    total = [c for c in chunks if c.gold not in ("none",)]
    summary: list[object] = ["all", sum(r[1] for r in rows), sum(r[2] for r in rows)]  # type: ignore[misc]
    for name in detectors:
        right = sum(_accepted(got[name][id(c)], c.gold) for c in total)
        summary.append(100 * right / len(total))
    for name in detectors:
        summary.append(sum(got[name][id(c)] == UNDETERMINED for c in total))
    summary.append("")
    rows.append(summary)
    rows.append(["us/chunk", "", "", *(per_chunk[n] for n in detectors), *("" for _ in detectors), ""])
    print(f"\n{title}: {len(chunks)} chunks in {len(by_doc)} documents")
    print(
        "columns: chunks in the edition's language / left in English; % of the former labelled right;"
        " 'und' on prose; the worst document (last candidate). Row 'all': every chunk with prose,"
        " English ones and mixed ones included (either language right)."
    )
    print(
        format_table(
            [
                "edition",
                "own",
                "English",
                *(f"{n} %" for n in detectors),
                *(f"{n} und" for n in detectors),
                "worst",
            ],
            rows,
        )
    )


def _accepted(got: str, gold: str) -> bool:
    if gold.startswith("mixed:"):
        return got in (gold.split(":", 1)[1], "en")
    return got == gold


def _worst_document(by_doc: dict[str, list[LabelledChunk]], edition: str, labels: dict[int, str]) -> str:
    worst = ("", 101.0)
    for name, doc_chunks in by_doc.items():
        mine = [c for c in doc_chunks if c.edition == edition and c.gold == edition]
        if len(mine) < 5:
            continue
        share = 100 * sum(labels[id(c)] == edition for c in mine) / len(mine)
        if share < worst[1]:
            worst = (name, share)
    return f"{worst[0]} {worst[1]:.1f}" if worst[0] else ""


def report_queries(evaldata: Path, split: str, detectors: dict[str, QueryDetect]) -> None:
    from search.evaluation.querysets import load_queryset
    from search.evaluation.xquad import XQUAD_LANGUAGES, read_xquad

    groups: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for lang in XQUAD_LANGUAGES:
        paragraphs = read_xquad(evaldata, lang)
        half = len(paragraphs) // 2
        for paragraph in paragraphs[:half] if split == "dev" else paragraphs[half:]:
            for _, question in paragraph.questions:
                groups["XQuAD questions"].append((question, lang))
                words = question.split()
                if lang not in ("zh", "th") and len(words) >= 2:
                    groups["2-word windows"].append((" ".join(words[:2]), lang))
    rng = random.Random(split)
    for code, app in TATOEBA_LANGUAGES.items():
        if code in NO_SPACES or code == "eng":
            continue
        lines = (evaldata / "tatoeba" / f"tatoeba.{code}-eng.{code}").read_text(encoding="utf-8").splitlines()
        half = len(lines) // 2
        for line in rng.sample(lines[:half] if split == "dev" else lines[half:], 20):
            words = line.split()
            if words:
                groups["Tatoeba 1-3 words"].append((" ".join(words[: rng.randint(1, 3)]), app))
    sample = load_queryset(REPO / "sample_corpora" / "queryset", detect_languages=False)
    groups["sample queries"] = [
        (q.text, q.language) for q in sample.queries.values() if q.language != UNDETERMINED
    ]
    rows = []
    for name, detect in detectors.items():
        t0 = time.perf_counter()
        right = {g: sum(detect(text) == lang for text, lang in items) for g, items in groups.items()}
        per_call = 1e6 * (time.perf_counter() - t0) / sum(len(v) for v in groups.values())
        total = sum(len(v) for v in groups.values())
        rows.append(
            [
                name,
                *(100 * right[g] / len(groups[g]) for g in groups),
                100 * sum(right.values()) / total,
                per_call,
            ]
        )
    print(f"\nQueries ({split} split): " + ", ".join(f"{g} {len(v)}" for g, v in groups.items()))
    print(format_table(["query path", *(f"{g} %" for g in groups), "all %", "us/call"], rows))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--split", choices=("dev", "test"), default="test")
    parser.add_argument("--parts", default="tatoeba,manuals,queries")
    parser.add_argument(
        "--baseline", type=Path, help="another checkout whose identifier is the 'before' column"
    )
    parser.add_argument("--cache-dir", type=Path, help="model cache (the bundled model's tokenizer chunks)")
    parser.add_argument(
        "--work", type=Path, help="where rendered man pages are kept (default: a temporary folder)"
    )
    parser.add_argument("--man-pages", type=int, default=12, help="man pages per language")
    parser.add_argument("--per-language", action="store_true")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    chunk_detectors, query_detectors = candidates(args.baseline)
    evaldata = evaldata_dir()
    if "tatoeba" in parts:
        report_tatoeba(evaldata, args.split, chunk_detectors, args.per_language)
    if "manuals" in parts:
        chunk = _chunker(args.cache_dir)
        with tempfile.TemporaryDirectory(prefix="chunk-languages-") as tmp:
            work = args.work or Path(tmp)
            report_manuals(
                debian_reference(chunk, args.split), f"Debian Reference ({args.split})", chunk_detectors
            )
            if args.split == "test":
                report_manuals(installation_guide(chunk), "Debian installation guide (test)", chunk_detectors)
                report_manuals(man_pages(chunk, work, args.man_pages), "man pages (test)", chunk_detectors)
    if "queries" in parts:
        report_queries(evaldata, args.split, query_detectors)


if __name__ == "__main__":
    main()
