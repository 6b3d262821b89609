"""The Tesseract binary: where it is, which packs it has, and one page read in a child process.

Why a child process per page rather than an in-process binding (tesserocr, PyMuPDF's OCR): a page
that takes too long is cut off by killing it, so a run never stalls; a hostile image that crashes
or bloats the engine takes only the child down (its address space is capped); the child runs at
a lower priority than the model and on one thread (``OMP_THREAD_LIMIT=1``), so on two cores OCR
fills the gaps instead of taking a core from every forward pass. Quality and speed of the routes
were measured side by side (``python -m benchmarks.ocr_quality``; README, "Scanned documents").
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from search.core.errors import AppError

# OSD guesses from this many characters (Tesseract's default, 50, leaves a receipt, a slide title or
# a one-line screenshot without a guess; 10 named the script of every one-line page in tests/data/ocr
# but mistook one Chinese line for Korean, which the confidence check in pages.py catches)
OSD_MIN_CHARACTERS = 10
MEMORY_LIMIT = 2 * 1024**3
NOISE_CONFIDENCE = 30.0  # a text line read below this is noise, not text (see _drop_noise)  # the child's address space: a 25-megapixel page needs a few hundred MB


class OcrError(AppError):
    """One page could not be read; ``str(exc)`` says why in one line."""


class OcrTimeout(OcrError):
    def __init__(self, seconds: float) -> None:
        super().__init__(f"OCR cut off after {seconds:.0f} s")
        self.seconds = seconds


@dataclass(frozen=True)
class Tesseract:
    """A Tesseract installation: the binary, its version and the packs in its tessdata folder."""

    binary: str
    version: str  # "5.3.0"
    tessdata: str
    packs: frozenset[str]  # deu, chi_sim, jpn_vert, osd, Latin ...

    @property
    def label(self) -> str:
        return f"tesseract {self.version}"


def find_tesseract(binary: str = "tesseract") -> Tesseract | None:
    """The installed engine, or None when it is missing or does not answer."""
    path = shutil.which(binary)
    if path is None:
        return None
    try:
        version = subprocess.run(
            [path, "--version"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
        listing = subprocess.run(
            [path, "--list-langs"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"tesseract\s+v?(\d+[\w.\-]*)", version)
    if match is None:
        return None
    lines = listing.splitlines()
    folder = re.search(r'"(.*?)"', lines[0]) if lines else None
    packs = frozenset(line.strip() for line in lines[1:] if line.strip())
    return Tesseract(path, match.group(1), folder.group(1) if folder else "", packs)


@dataclass(frozen=True)
class Reading:
    """Tesseract's text of one page, in logical order, and its mean word confidence (0-100)."""

    text: str
    confidence: float
    words: int
    seconds: float


@dataclass(frozen=True)
class ScriptGuess:
    script: str  # OSD's name: Latin, Cyrillic, Han, Japanese, Korean, Arabic...
    confidence: float
    rotate: int  # degrees to turn the page (counter-clockwise) so its text stands upright
    orientation_confidence: float


@dataclass(frozen=True)
class ChildLimits:
    """How a Tesseract child runs: wall-clock cut-off, priority and threads."""

    timeout_s: float = 120.0
    nice: int = 10
    threads: int = 1


def pgm(width: int, height: int, pixels: bytes) -> bytes:
    """An 8-bit grey image as binary PGM: what Leptonica reads from a pipe without decoding work."""
    return f"P5\n{width} {height}\n255\n".encode("ascii") + pixels


def recognise(
    engine: Tesseract,
    image: bytes,
    languages: Sequence[str],
    dpi: int | None,
    limits: ChildLimits,
    psm: int = 3,
) -> Reading:
    """Read one page image (PGM or any format Leptonica reads) with the given packs."""
    with tempfile.TemporaryDirectory(prefix="mlsearch-ocr-") as scratch:
        base = Path(scratch) / "page"
        args = ["stdin", str(base), "-l", "+".join(languages), "--psm", str(psm)]
        if dpi:
            args += ["--dpi", str(dpi)]
        started = time.perf_counter()
        _run(engine, [*args, "txt", "tsv"], image, limits)
        seconds = time.perf_counter() - started
        lines = _lines(_read(base.with_suffix(".tsv")))
        text = _drop_noise(_read(base.with_suffix(".txt")), lines)
        kept = [line for line in lines if line.confidence >= NOISE_CONFIDENCE]
    weight = sum(line.weight for line in kept)
    confidence = round(sum(line.confidence * line.weight for line in kept) / weight, 1) if weight else 0.0
    return Reading(text, confidence, sum(line.words for line in kept), seconds)


def detect_script(
    engine: Tesseract, image: bytes, dpi: int | None, limits: ChildLimits
) -> ScriptGuess | None:
    """Tesseract's orientation and script detection (the ``osd`` pack); None when the page has too
    little text to tell or the pack is missing."""
    if "osd" not in engine.packs:
        return None
    args = ["stdin", "stdout", "--psm", "0", "-c", f"min_characters_to_try={OSD_MIN_CHARACTERS}"]
    args += ["--dpi", str(dpi)] if dpi else []
    try:
        out = _run(engine, args, image, limits)
    except OcrTimeout:
        raise
    except OcrError:
        return None  # "Too few characters": not a failure of the page, just no guess
    fields = dict(re.findall(r"^([A-Za-z ]+):\s*(\S+)", out, re.MULTILINE))
    script = fields.get("Script")
    if not script:
        return None
    return ScriptGuess(
        script=script,
        confidence=_float(fields.get("Script confidence")),
        rotate=int(_float(fields.get("Rotate"))),
        orientation_confidence=_float(fields.get("Orientation confidence")),
    )


def _run(engine: Tesseract, args: list[str], image: bytes, limits: ChildLimits) -> str:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "OMP_THREAD_LIMIT": str(max(1, limits.threads)),
        "LC_ALL": "C.UTF-8",
    }
    if engine.tessdata:
        env["TESSDATA_PREFIX"] = engine.tessdata
    process = subprocess.Popen(
        [engine.binary, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    _lower(process.pid, limits.nice)
    try:
        out, err = process.communicate(image, timeout=limits.timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise OcrTimeout(limits.timeout_s) from None
    if process.returncode != 0:
        message = " ".join(err.decode("utf-8", "replace").split())[-200:]
        raise OcrError(f"tesseract failed (exit {process.returncode}): {message or 'no message'}")
    return out.decode("utf-8", "replace")


def _lower(pid: int, nice: int) -> None:
    """The child's priority at least ``nice`` below normal (it inherits the calling thread's, on Linux),
    and its address space capped, before it is sent the page."""
    if hasattr(os, "setpriority") and nice > 0:
        with contextlib.suppress(OSError):
            own = os.getpriority(os.PRIO_PROCESS, 0)
            os.setpriority(os.PRIO_PROCESS, pid, min(19, max(own, nice)))
    with contextlib.suppress(ImportError, OSError, ValueError, AttributeError):
        import resource

        resource.prlimit(pid, resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""


@dataclass(frozen=True)
class _Line:
    confidence: float  # mean word confidence, each word weighted by its length
    weight: int  # characters
    words: int


def _lines(tsv: str) -> list[_Line]:
    """Tesseract's text lines in reading order, with their confidence (from its TSV output)."""
    totals: dict[tuple[str, str, str, str], list[float]] = {}
    for row in tsv.splitlines()[1:]:
        cells = row.split("\t")
        if len(cells) < 12 or cells[0] != "5":
            continue
        text = cells[11].strip()
        conf = _float(cells[10], -1.0)
        if not text or conf < 0:
            continue
        entry = totals.setdefault((cells[1], cells[2], cells[3], cells[4]), [0.0, 0.0, 0.0])
        entry[0] += conf * len(text)
        entry[1] += len(text)
        entry[2] += 1
    return [
        _Line(total / weight, int(weight), int(words)) for total, weight, words in totals.values() if weight
    ]


def _drop_noise(text: str, lines: list[_Line]) -> str:
    """The text without the lines Tesseract read below NOISE_CONFIDENCE: specks, stains, the marks
    above a line of Thai read as a line of their own. Lines are matched to the TSV's in order; when
    their counts differ the text is kept whole."""
    written = [i for i, line in enumerate(text.split("\n")) if line.strip()]
    if len(written) != len(lines):
        return text
    noisy = {index for index, line in zip(written, lines) if line.confidence < NOISE_CONFIDENCE}
    return "\n".join(line for i, line in enumerate(text.split("\n")) if i not in noisy)


def _float(value: str | None, default: float = 0.0) -> float:
    try:
        return float(value) if value is not None else default
    except ValueError:
        return default
