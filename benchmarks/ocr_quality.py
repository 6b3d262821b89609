"""OCR quality per script: character error rate on pages rendered from known text, for each route tried.

Known text: Tatoeba sentences (../shared/evaldata/tatoeba; real sentences, not written for this
test), the last lines of each file, set on an A4 page in Debian's Noto fonts
(benchmarks/page_images.py), at 200 and 300 dpi, clean and with noise, skew and JPEG artefacts.

Routes, each given the same pages:

* ``app``: what the indexer does (indexer.ocr): Tesseract 5 (Debian) in a child process per page,
  packs chosen per page (script detection, then the text's language), nothing told;
* ``cli``: the same child process with the page's own packs given, on the page as it is (no noise
  filter, no language choice);
* ``pymupdf``: PyMuPDF's built-in Tesseract (``Page.get_textpage_ocr``), the same packs given.

CER = Levenshtein distance / reference length, after NFKC and with whitespace collapsed (removed
for Chinese, Japanese and Thai, which are written without spaces). Script detection: whether the
app's choice read the page with a pack of the page's script. The constants of indexer/ocr were set
on tests/data/ocr (one-line pages of the sample corpus's kind), not on these pages.

    python -m benchmarks.ocr_quality                       # every language, dpi and degradation
    python -m benchmarks.ocr_quality --langs deu,jpn --dpi 300 --conditions clean --routes app
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
import unicodedata
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.common import evaldata_dir, format_table
from benchmarks.page_images import Degradation, degrade, fonts_missing, render_page

# Tatoeba file -> (script, ISO 639-1, packs that read it, vertical)
LANGUAGES: dict[str, tuple[str, str, tuple[str, ...], bool]] = {
    "deu": ("Latin", "de", ("deu",), False),
    "fra": ("Latin", "fr", ("fra",), False),
    "tur": ("Latin", "tr", ("tur",), False),
    "rus": ("Cyrillic", "ru", ("rus",), False),
    "ell": ("Greek", "el", ("ell",), False),
    "ara": ("Arabic", "ar", ("ara",), False),
    "heb": ("Hebrew", "he", ("heb",), False),
    "hin": ("Devanagari", "hi", ("hin",), False),
    "tha": ("Thai", "th", ("tha",), False),
    "cmn": ("Han", "zh", ("chi_sim", "chi_tra"), False),
    "jpn": ("Japanese", "ja", ("jpn", "jpn_vert"), False),
    "jpn-vert": ("Japanese", "ja", ("jpn", "jpn_vert"), True),
    "kor": ("Korean", "ko", ("kor",), False),
}
CONDITIONS = {
    "clean": Degradation(),
    "noise": Degradation(noise=25.0),
    "skew": Degradation(skew=2.0),
    "jpeg": Degradation(jpeg=30),
}
NO_SPACE = {"cmn", "jpn", "jpn-vert", "tha"}
SENTENCES = 12  # per page: about half an A4 page of text


@dataclass(frozen=True)
class Result:
    lang: str
    dpi: int
    condition: str
    route: str
    cer: float
    seconds: float
    packs: str


def known_text(lang: str) -> list[str]:
    code = lang.split("-")[0]
    lines = (
        (evaldata_dir() / "tatoeba" / f"tatoeba.{code}-eng.{code}").read_text(encoding="utf-8").splitlines()
    )
    picked = [line.strip() for line in lines[-SENTENCES * 3 :] if line.strip()][-SENTENCES:]
    joiner = "" if lang in NO_SPACE else " "
    return [joiner.join(picked[i : i + 3]) for i in range(0, len(picked), 3)]


def normalise(text: str, lang: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    return re.sub(r"\s+", "", text) if lang in NO_SPACE else re.sub(r"\s+", " ", text).strip()


def cer(reference: str, hypothesis: str, lang: str) -> float:
    from rapidfuzz.distance import Levenshtein

    ref, hyp = normalise(reference, lang), normalise(hypothesis, lang)
    return Levenshtein.distance(ref, hyp) / max(1, len(ref))


def read_app(image: Any, dpi: int) -> tuple[str, str]:
    from indexer.ocr.pages import OcrEvent, PageReader

    events: list[OcrEvent] = []
    page = PageReader(listener=events.append).document("page").read(image, 1, dpi)
    packs = "+".join(events[-1].packs) if events else ""
    return (page.text if page else ""), packs


def read_cli(image: Any, dpi: int, packs: Sequence[str]) -> str:
    from indexer.ocr.engine import ChildLimits, find_tesseract, pgm, recognise

    engine = find_tesseract()
    assert engine is not None
    return recognise(engine, pgm(image.width, image.height, image.tobytes()), packs, dpi, ChildLimits()).text


def read_pymupdf(image: Any, dpi: int, packs: Sequence[str], tessdata: str) -> str:
    import io

    import pymupdf

    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    doc = pymupdf.open()
    page = doc.new_page(width=image.width * 72 / dpi, height=image.height * 72 / dpi)
    page.insert_image(page.rect, stream=buffer.getvalue())
    textpage = page.get_textpage_ocr(language="+".join(packs), dpi=dpi, full=True, tessdata=tessdata)
    text = str(page.get_text(textpage=textpage))
    doc.close()
    return text


def run(
    langs: Sequence[str], dpis: Sequence[int], conditions: Sequence[str], routes: Sequence[str]
) -> list[Result]:
    from indexer.ocr.engine import OcrError, find_tesseract

    engine = find_tesseract()
    if engine is None:
        raise SystemExit(
            "Tesseract is not installed: apt-get install -y tesseract-ocr tesseract-ocr-<lang> ..."
        )
    results = []
    for lang in langs:
        script, _, packs, vertical = LANGUAGES[lang]
        missing = [code for code in packs if code not in engine.packs]
        if missing or fonts_missing([script]):
            print(f"skipping {lang}: missing packs {missing} or the {script} font")
            continue
        paragraphs = known_text(lang)
        reference = ("" if lang in NO_SPACE else " ").join(paragraphs)
        for dpi in dpis:
            page = render_page(paragraphs, script, dpi, vertical=vertical)
            for condition in conditions:
                image = degrade(page, CONDITIONS[condition], seed=dpi)
                for route in routes:
                    started = time.perf_counter()
                    used = "+".join(packs)
                    try:
                        if route == "app":
                            text, used = read_app(image, dpi)
                        elif route == "cli":
                            text = read_cli(image, dpi, packs)
                        else:
                            text = read_pymupdf(image, dpi, packs, engine.tessdata)
                    except OcrError as exc:  # cut off: nothing read
                        text, used = "", f"{used} ({exc})"
                    seconds = time.perf_counter() - started
                    results.append(
                        Result(lang, dpi, condition, route, cer(reference, text, lang), seconds, used)
                    )
                    print(
                        f"{lang:8} {dpi} {condition:6} {route:8} CER {results[-1].cer:.4f} {seconds:5.1f}s {used}"
                    )
    return results


def tables(results: Sequence[Result], routes: Sequence[str]) -> str:
    by: dict[tuple[str, str], list[Result]] = defaultdict(list)
    for r in results:
        by[r.lang, r.route].append(r)
    out = []
    for dpi in sorted({r.dpi for r in results}):
        headers = ["language", "script", *(f"{c} {route}" for c in CONDITIONS for route in routes)]
        rows = []
        for lang in LANGUAGES:
            cells = []
            for condition in CONDITIONS:
                for route in routes:
                    hit = [r for r in by[lang, route] if r.dpi == dpi and r.condition == condition]
                    cells.append(f"{100 * hit[0].cer:.1f}" if hit else "")
            if any(cells):
                rows.append([lang, LANGUAGES[lang][0], *cells])
        out.append(f"CER % at {dpi} dpi\n" + format_table(headers, rows))
    summary = []
    for route in routes:
        mine = [r for r in results if r.route == route]
        if mine:
            summary.append(
                [
                    route,
                    f"{100 * statistics.mean(r.cer for r in mine):.2f}",
                    f"{100 * statistics.median(r.cer for r in mine):.2f}",
                    f"{len(mine) / sum(r.seconds for r in mine):.2f}",
                ]
            )
    out.append(format_table(["route", "mean CER %", "median CER %", "pages/s (this run's load)"], summary))
    app = [r for r in results if r.route == "app"]
    if app:
        right = sum(
            any(code in r.packs.split("+") for code in LANGUAGES[r.lang][2])
            or LANGUAGES[r.lang][0] in r.packs
            for r in app
        )
        out.append(f"app's pack choice fits the page's script on {right} of {len(app)} pages")
    return "\n\n".join(out)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--langs", default=",".join(LANGUAGES))
    parser.add_argument("--dpi", default="200,300")
    parser.add_argument("--conditions", default=",".join(CONDITIONS))
    parser.add_argument("--routes", default="app,cli,pymupdf")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args(argv)
    routes = args.routes.split(",")
    results = run(
        args.langs.split(","), [int(d) for d in args.dpi.split(",")], args.conditions.split(","), routes
    )
    print()
    print(tables(results, routes))
    if args.out:
        args.out.write_text(
            json.dumps([r.__dict__ for r in results], ensure_ascii=False, indent=1), encoding="utf-8"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
