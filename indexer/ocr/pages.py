"""Reading page images: the languages chosen per page, the cache, and what a run is told.

``PageReader`` is what extractors get (through ``LoaderConfig.ocr``): ``reader.document(source)``
opens the reading of one document, whose ``read(image, page, dpi)`` returns the page's text or
None (the page is reported through the reader's listener, never raised: one unreadable page
must not lose the rest of a document).

Languages, when not given (``--ocr-langs``): Tesseract's script detection on the page, then the
packs installed for that script; a script with several language packs and no script pack is read
with its most common language first, and again with the pack of the language the app's identifier
reads in that text when it differs. Later pages of the same document reuse the choice while their
confidence stays high, so a 100-page scan pays for the choice once.
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

from indexer.extract.textnorm import join_lines, normalize_text
from indexer.ocr.cache import CachedPage, OcrCache, page_key
from indexer.ocr.engine import (
    ChildLimits,
    OcrError,
    OcrTimeout,
    Reading,
    Tesseract,
    detect_script,
    find_tesseract,
    pgm,
    recognise,
)
from indexer.ocr.languages import (
    PACKS,
    install_command,
    missing_packs,
    needs_language_choice,
    pack_for_language,
    packs_for_languages,
    script_choices,
)
from search.text.language import DEFAULT_DETECTOR, LanguageDetector, detect_language

if TYPE_CHECKING:
    from PIL.Image import Image

PSM = 3  # Tesseract's automatic page segmentation (columns, vertical CJK lines)
REUSE_CONFIDENCE = 70.0
ROTATE_CONFIDENCE = 2.0
NOISY = 3.0  # mean |page - median(page)| above which a page counts as noisy (see is_noisy)
NOISY_TIMEOUT_S = 30.0  # a noisy page still being read after this is read again, filtered
CJK_SCRIPTS = frozenset(
    {"Han", "Japanese", "Korean", "Hangul"}
)  # OSD's orientation confidence above which a page is turned upright  # a later page read with the document's packs below this is detected afresh
_CJK_GAP = re.compile(
    r"(?<=[\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef]) "
    r"(?=[\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef])"
)


@dataclass(frozen=True)
class OcrOptions:
    """How pages are read. Explicit values from the entry point (``--ocr-langs``, ``--no-ocr``)."""

    languages: tuple[str, ...] = ()  # Tesseract packs for every page; () = chosen per page
    dpi: int = 300  # PDF pages are rendered at this resolution
    page_timeout_s: float = 120.0  # a page still being read after this is cut off and reported
    nice: int = 10  # the child's priority below the model's threads
    threads: int = 1  # Tesseract's OpenMP threads per page
    max_pixels: int = 25_000_000  # larger pages and images are scaled down to this before reading
    max_source_pixels: int = 120_000_000  # images larger than this are refused before decoding
    min_confidence: float = 30.0  # a page read below this holds no legible text (photos, blank scans)
    binary: str = "tesseract"

    @property
    def limits(self) -> ChildLimits:
        return ChildLimits(self.page_timeout_s, self.nice, self.threads)


EventKind = Literal["read", "cached", "cut_off", "failed", "unavailable", "empty"]


@dataclass(frozen=True)
class OcrEvent:
    """One page's outcome, for progress and the run's report."""

    kind: EventKind
    source: str
    page: int
    reason: str = ""
    packs: tuple[str, ...] = ()  # what to install ("unavailable"), or the packs that read it
    engine_missing: bool = False
    seconds: float = 0.0


Listener = Callable[[OcrEvent], None]


@dataclass(frozen=True)
class PageText:
    text: str  # paragraphs separated by blank lines, in logical (reading) order
    confidence: float  # Tesseract's mean word confidence, 0-100
    languages: tuple[str, ...]
    cached: bool = False

    @property
    def paragraphs(self) -> list[str]:
        return [p for p in (part.strip() for part in self.text.split("\n\n")) if p]


class PageReader:
    """The OCR service of a process: one engine, one cache; cheap views with a run's listener."""

    def __init__(
        self,
        options: OcrOptions | None = None,
        cache: OcrCache | None = None,
        *,
        detector: LanguageDetector = DEFAULT_DETECTOR,
        engine: Tesseract | None = None,
        listener: Listener | None = None,
        _shared: _Engine | None = None,
    ) -> None:
        self.options = options or OcrOptions()
        self.cache = cache
        self.detector = detector
        self.listener = listener
        self._shared = _shared or _Engine(self.options.binary, engine)

    def with_listener(self, listener: Listener | None) -> PageReader:
        """The same engine and cache, reporting to ``listener`` (one index run's counters)."""
        return PageReader(
            self.options, self.cache, detector=self.detector, listener=listener, _shared=self._shared
        )

    @property
    def engine(self) -> Tesseract | None:
        return self._shared.get()

    def document(self, source: str, hints: Sequence[str] = ()) -> DocumentReading:
        """The reading of one document; ``hints`` are languages it is known to hold (PDF /Lang, its text pages)."""
        return DocumentReading(self, source, tuple(hints))

    def emit(self, event: OcrEvent) -> None:
        if self.listener is not None:
            self.listener(event)


class _Engine:
    """The engine, looked for once on first use (a run with no scans never starts Tesseract)."""

    def __init__(self, binary: str, engine: Tesseract | None) -> None:
        self._binary = binary
        self._engine = engine
        self._looked = engine is not None
        self._lock = threading.Lock()

    def get(self) -> Tesseract | None:
        with self._lock:
            if not self._looked:
                self._engine = find_tesseract(self._binary)
                self._looked = True
            return self._engine


class DocumentReading:
    """Pages of one document, read in order; remembers the packs that read the last page well."""

    def __init__(self, reader: PageReader, source: str, hints: tuple[str, ...]) -> None:
        self._reader = reader
        self._source = source
        self._hints = hints
        self._packs: tuple[str, ...] = ()
        self.problems: list[OcrEvent] = []  # pages not read, in order (for the file's skip reason)

    @property
    def possible(self) -> bool:
        """Whether pages can be read at all here; when not, ``unavailable`` reports them without
        rendering or decoding anything."""
        return self._reader.engine is not None

    def unavailable(self, page: int) -> None:
        """Report a page that needs OCR on a machine without Tesseract, with the install command."""
        packs = tuple(packs_for_languages(self._hints))
        self._problem(
            "unavailable",
            page,
            f"Tesseract is not installed ({install_command(packs)})",
            packs,
            engine_missing=True,
        )

    def read(self, image: Image, page: int, dpi: int | None = None) -> PageText | None:
        """The page's text, or None when it cannot be read (reported, with why)."""
        reader = self._reader
        engine = reader.engine
        if engine is None:
            self.unavailable(page)
            return None
        image = prepare(image, reader.options.max_pixels)
        data = pgm(image.width, image.height, image.tobytes())
        digest = hashlib.sha256(data).digest()
        options = reader.options
        choice = (
            "+".join(options.languages) if options.languages else "auto:" + ",".join(sorted(engine.packs))
        )
        key = page_key(
            digest, engine.version, choice, str(dpi or 0), str(PSM), f"min{options.min_confidence}"
        )
        cached = reader.cache.get(key) if reader.cache is not None else None
        if cached is not None:
            reader.emit(OcrEvent("cached", self._source, page, packs=cached.languages))
            if cached.languages:
                self._packs = cached.languages
            return self._result(PageText(cached.text, cached.confidence, cached.languages, cached=True), page)
        try:
            reading, packs = self._read_noisy_too(engine, image, data, dpi)
        except OcrTimeout as exc:
            return self._problem("cut_off", page, str(exc))
        except OcrError as exc:
            return self._problem("failed", page, str(exc))
        except _MissingPacks as exc:
            return self._problem("unavailable", page, str(exc), exc.packs)
        text = tidy(reading.text)
        if reading.confidence < options.min_confidence or not text:
            text = ""  # cached as empty: a photo is not read again either
        result = PageText(text, reading.confidence, packs)
        if reader.cache is not None:
            reader.cache.put(key, CachedPage(text, reading.confidence, packs, reading.seconds))
        reader.emit(OcrEvent("read", self._source, page, packs=packs, seconds=reading.seconds))
        return self._result(result, page)

    def _result(self, result: PageText, page: int) -> PageText | None:
        if not result.text:
            return self._problem(
                "empty", page, f"no legible text (OCR confidence {result.confidence:.0f})", report=False
            )
        return result

    def _problem(
        self,
        kind: EventKind,
        page: int,
        reason: str,
        packs: tuple[str, ...] = (),
        engine_missing: bool = False,
        report: bool = True,
    ) -> PageText | None:
        """Record a page that yields no text (and report it unless ``report`` is False); always None."""
        event = OcrEvent(kind, self._source, page, reason, packs, engine_missing)
        self.problems.append(event)
        if report:
            self._reader.emit(event)
        return None

    def _read_noisy_too(
        self, engine: Tesseract, image: Image, data: bytes, dpi: int | None
    ) -> tuple[Reading, tuple[str, ...]]:
        """The page as it is; a noisy page the engine chokes on (cut off after NOISY_TIMEOUT_S, or read
        below REUSE_CONFIDENCE) is read again through a 3x3 median filter, and the better reading kept.

        Why not filter every noisy page: the filter removes grain (a 200-dpi Arabic page with grey
        noise of sigma 25: 44 s and 99.7 % of characters wrong as it is, 1.3 s and 17 % filtered) but
        also the thin strokes of Chinese, Japanese and Thai (filtering every noisy page made noisy
        Chinese pages unreadable in the first run of benchmarks.ocr_quality; README)."""
        limits = self._reader.options.limits
        if not is_noisy(image):
            return self._choose_and_read(engine, image, data, dpi, limits)
        first: tuple[Reading, tuple[str, ...]] | None = None
        try:
            first = self._choose_and_read(
                engine, image, data, dpi, replace(limits, timeout_s=min(limits.timeout_s, NOISY_TIMEOUT_S))
            )
        except OcrTimeout:
            first = None
        if first is not None and first[0].confidence >= REUSE_CONFIDENCE:
            return first
        smooth = median(image)
        second = self._choose_and_read(
            engine, smooth, pgm(smooth.width, smooth.height, smooth.tobytes()), dpi, limits
        )
        if first is None or second[0].confidence > first[0].confidence:
            return replace(
                second[0], seconds=second[0].seconds + (first[0].seconds if first else 0.0)
            ), second[1]
        return first

    def _choose_and_read(
        self, engine: Tesseract, image: Image, data: bytes, dpi: int | None, limits: ChildLimits
    ) -> tuple[Reading, tuple[str, ...]]:
        options = self._reader.options
        if options.languages:
            missing = [code for code in options.languages if code not in engine.packs]
            if missing:
                raise _MissingPacks(missing, f"OCR languages not installed: {', '.join(missing)}")
            return recognise(engine, data, options.languages, dpi, limits, PSM), options.languages
        if self._packs:
            reading = recognise(engine, data, self._packs, dpi, limits, PSM)
            if reading.confidence >= REUSE_CONFIDENCE:
                return reading, self._packs
        guess = detect_script(engine, data, dpi, limits)
        if guess is not None and guess.rotate % 360 and guess.orientation_confidence >= ROTATE_CONFIDENCE:
            image = image.rotate(guess.rotate, expand=True, fillcolor=255)
            data = pgm(image.width, image.height, image.tobytes())
        script = guess.script if guess is not None else self._fallback_script(engine)
        packs = script_choices(script, engine.packs)
        if not packs:
            wanted = missing_packs(script)
            command = install_command(wanted, engine=False)
            raise _MissingPacks(wanted, f"{script} script: no Tesseract pack installed ({command})")
        reading = recognise(engine, data, packs, dpi, limits, PSM)
        if reading.confidence < REUSE_CONFIDENCE and script in CJK_SCRIPTS:
            # OSD tells Han, kana and Hangul apart poorly on short text: the best-read family wins
            for other in CJK_SCRIPTS - {script, "Hangul" if script == "Korean" else "Korean"}:
                alternative = script_choices(other, engine.packs)
                if alternative and alternative != packs:
                    second = recognise(engine, data, alternative, dpi, limits, PSM)
                    if second.confidence > reading.confidence:
                        reading, packs = (
                            replace(second, seconds=second.seconds + reading.seconds),
                            alternative,
                        )
        if needs_language_choice(script, packs, engine.packs):
            language = detect_language(reading.text, detector=self._reader.detector)
            better = pack_for_language(language, script, engine.packs)
            if better is not None and better not in packs:
                second = recognise(engine, data, (better,), dpi, limits, PSM)
                second = replace(second, seconds=second.seconds + reading.seconds)
                if second.confidence >= reading.confidence:
                    reading, packs = second, (better,)
        self._packs = packs
        return reading, packs

    def _fallback_script(self, engine: Tesseract) -> str:
        """Without a script guess (no ``osd`` pack, or too little text): the hints' script, else Latin."""
        for code in packs_for_languages(self._hints):
            if code in engine.packs:
                return PACKS[code].script
        return "Latin"


class _MissingPacks(Exception):
    def __init__(self, packs: Sequence[str], message: str) -> None:
        super().__init__(message)
        self.packs = tuple(packs)


def prepare(image: Image, max_pixels: int) -> Image:
    """8-bit grey, transparency on white, scaled down to at most ``max_pixels``."""
    from PIL import Image as PILImage

    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = PILImage.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = PILImage.alpha_composite(background, rgba)
    if image.mode != "L":
        image = image.convert("L")
    pixels = image.width * image.height
    if pixels > max_pixels:
        scale = (max_pixels / pixels) ** 0.5
        size = (max(1, int(image.width * scale)), max(1, int(image.height * scale)))
        image = image.resize(size, PILImage.Resampling.LANCZOS, reducing_gap=3.0)
    return image


def is_noisy(image: Image) -> bool:
    """Whether the page's centre differs from its 3x3 median by more than NOISY on average (grain,
    speckles). Clean, skewed and JPEG pages of tests/data/ocr: 0.2-1.5; with grey noise of sigma 10:
    4.0-5.0, sigma 25: 9.4-10.4."""
    import numpy as np
    from PIL import ImageFilter

    width, height = image.size
    side = 800
    box = (max(0, (width - side) // 2), max(0, (height - side) // 2))
    sample = image.crop((box[0], box[1], min(width, box[0] + side), min(height, box[1] + side)))
    smooth = sample.filter(ImageFilter.MedianFilter(3))
    difference = np.abs(np.asarray(sample, dtype=np.int16) - np.asarray(smooth, dtype=np.int16)).mean()
    return bool(difference > NOISY)


def median(image: Image) -> Image:
    from PIL import ImageFilter

    return image.filter(ImageFilter.MedianFilter(3))


def tidy(text: str) -> str:
    """Tesseract's text as paragraphs: lines of a paragraph joined, no spaces between CJK characters."""
    paragraphs = []
    for block in re.split(r"\n\s*\n", text.replace("\f", "\n\n")):
        joined = normalize_text(join_lines(block.split("\n")))
        joined = _CJK_GAP.sub("", joined)
        if joined:
            paragraphs.append(joined)
    return "\n\n".join(paragraphs)
