"""Pages rendered from known text, as a scanner would give them: for OCR benchmarks, tests and the sample.

Fonts are Debian's (fonts-noto-core, fonts-noto-cjk; DejaVu as a fallback), laid out with Pillow's
Raqm engine (shaping for Arabic, Devanagari and Thai; right-to-left lines set right-aligned;
vertical Japanese in columns from the right). ``degrade`` adds what real scans have: sensor
noise, a skewed sheet, JPEG artefacts. Rendering is deterministic for a given Pillow and font.

    python -m benchmarks.page_images --fixtures tests/data/ocr    # the OCR tests' small images
"""

from __future__ import annotations

import argparse
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NOTO = Path("/usr/share/fonts/truetype/noto")
NOTO_CJK = Path("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc")
DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf")
# script -> (font file, face index in a collection); CJK faces: 0 JP, 1 KR, 2 SC, 3 TC
FONTS: dict[str, tuple[Path, int]] = {
    "Latin": (NOTO / "NotoSerif-Regular.ttf", 0),
    "Cyrillic": (NOTO / "NotoSerif-Regular.ttf", 0),
    "Greek": (NOTO / "NotoSerif-Regular.ttf", 0),
    "Arabic": (NOTO / "NotoNaskhArabic-Regular.ttf", 0),
    "Hebrew": (NOTO / "NotoSerifHebrew-Regular.ttf", 0),
    "Devanagari": (NOTO / "NotoSerifDevanagari-Regular.ttf", 0),
    "Thai": (NOTO / "NotoSerifThai-Regular.ttf", 0),
    "Japanese": (NOTO_CJK, 0),
    "Korean": (NOTO_CJK, 1),
    "Han": (NOTO_CJK, 2),
}
FONT_PACKAGES = ("fonts-noto-core", "fonts-noto-cjk")
RTL = {"Arabic", "Hebrew"}
# ISO 639-1 -> the script a language is set in here
SCRIPT_OF = {
    **dict.fromkeys(
        [
            "af",
            "ca",
            "cs",
            "da",
            "de",
            "en",
            "es",
            "et",
            "eu",
            "fi",
            "fr",
            "ga",
            "hr",
            "hu",
            "id",
            "is",
            "it",
            "lt",
            "lv",
            "nl",
            "no",
            "pl",
            "pt",
            "ro",
            "sk",
            "sl",
            "sq",
            "sv",
            "sw",
            "tr",
            "vi",
        ],
        "Latin",
    ),
    **dict.fromkeys(["ru", "uk", "bg", "be", "mk", "sr", "kk"], "Cyrillic"),
    "el": "Greek",
    "ar": "Arabic",
    "fa": "Arabic",
    "ur": "Arabic",
    "he": "Hebrew",
    "hi": "Devanagari",
    "mr": "Devanagari",
    "ne": "Devanagari",
    "th": "Thai",
    "zh": "Han",
    "ja": "Japanese",
    "ko": "Korean",
}
NO_SPACES = {"Japanese", "Han", "Thai"}  # lines may break between any two characters


@dataclass(frozen=True)
class Degradation:
    """What happens to a page between paper and file."""

    noise: float = 0.0  # standard deviation of Gaussian grey noise (0-255 scale)
    skew: float = 0.0  # degrees the sheet is turned
    jpeg: int = 0  # JPEG quality the page went through (0: none)

    @property
    def label(self) -> str:
        parts = [f"noise {self.noise:g}" if self.noise else "", f"skew {self.skew:g}°" if self.skew else ""]
        parts.append(f"JPEG q{self.jpeg}" if self.jpeg else "")
        return ", ".join(p for p in parts if p) or "clean"


def fonts_missing(scripts: Sequence[str]) -> list[str]:
    return [s for s in scripts if not FONTS[s][0].exists()]


def _font(script: str, size_px: int) -> Any:
    from PIL import ImageFont

    path, index = FONTS[script]
    if not path.exists():
        path, index = DEJAVU, 0
    return ImageFont.truetype(str(path), size_px, index=index, layout_engine=ImageFont.Layout.RAQM)


def render_page(
    paragraphs: Sequence[str],
    script: str,
    dpi: int = 300,
    *,
    vertical: bool = False,
    points: float = 11.0,
    size_inches: tuple[float, float] = (8.27, 11.69),
    margin_inches: float = 0.9,
) -> Any:
    """A grey page (Pillow image, mode L) with the paragraphs set in ``script``'s font, A4 by default."""
    from PIL import Image, ImageDraw

    if vertical:
        width, height = int(size_inches[0] * dpi), int(size_inches[1] * dpi)
        image = Image.new("L", (width, height), 255)
        font = _font(script, int(points * dpi / 72))
        line_height = int(points * dpi / 72 * 1.7)
        _vertical(
            ImageDraw.Draw(image), paragraphs, font, width, height, int(margin_inches * dpi), line_height
        )
        return image
    return render_pages(
        paragraphs, script, dpi, points=points, size_inches=size_inches, margin_inches=margin_inches
    )[0]


def render_pages(
    paragraphs: Sequence[str],
    script: str,
    dpi: int = 300,
    *,
    points: float = 11.0,
    size_inches: tuple[float, float] = (8.27, 11.69),
    margin_inches: float = 0.9,
) -> list[Any]:
    """Horizontal text over as many pages as it takes."""
    from PIL import Image, ImageDraw

    width, height = int(size_inches[0] * dpi), int(size_inches[1] * dpi)
    font = _font(script, int(points * dpi / 72))
    margin = int(margin_inches * dpi)
    line_height = int(points * dpi / 72 * 1.7)
    pages: list[Any] = []
    y = height  # no page yet
    draw: Any = None
    for paragraph in paragraphs:
        for line in _wrap(paragraph, font, width - 2 * margin, script not in NO_SPACES):
            if y + line_height > height - margin:
                pages.append(Image.new("L", (width, height), 255))
                draw = ImageDraw.Draw(pages[-1])
                y = margin
            if script in RTL:
                draw.text((width - margin, y), line, font=font, fill=0, anchor="ra", direction="rtl")
            else:
                draw.text((margin, y), line, font=font, fill=0)
            y += line_height
        y += line_height // 3
    return pages or [Image.new("L", (width, height), 255)]


def _wrap(paragraph: str, font: Any, width: int, spaced: bool) -> list[str]:
    units = paragraph.split(" ") if spaced else _clusters(paragraph)
    lines: list[str] = []
    line = ""
    for unit in units:
        candidate = f"{line} {unit}" if line and spaced else line + unit
        if line and font.getlength(candidate) > width:
            lines.append(line)
            line = unit
        else:
            line = candidate
    if line:
        lines.append(line)
    return lines


def _clusters(text: str) -> list[str]:
    """Characters with their combining marks (a Thai vowel sign never starts a line)."""
    import unicodedata

    out: list[str] = []
    for ch in text:
        if out and unicodedata.category(ch) in ("Mn", "Mc"):
            out[-1] += ch
        else:
            out.append(ch)
    return out


def _vertical(
    draw: Any, paragraphs: Sequence[str], font: Any, width: int, height: int, margin: int, step: int
) -> None:
    x = width - margin - step
    for paragraph in paragraphs:
        column = ""
        for ch in paragraph:
            if (
                column
                and font.getlength(column + ch, direction="ttb", features=["vert"]) > height - 2 * margin
            ):
                draw.text((x, margin), column, font=font, fill=0, direction="ttb", features=["vert"])
                x -= step
                column = ""
            column += ch
        if column:
            draw.text((x, margin), column, font=font, fill=0, direction="ttb", features=["vert"])
            x -= step
        if x < margin:
            return


def degrade(image: Any, degradation: Degradation, seed: int = 0) -> Any:
    """The page with noise, skew and JPEG artefacts applied (deterministic for a seed)."""
    import numpy as np
    from PIL import Image

    if degradation.skew:
        image = image.rotate(degradation.skew, resample=Image.Resampling.BICUBIC, expand=False, fillcolor=255)
    if degradation.noise:
        rng = np.random.default_rng(seed)
        pixels = np.asarray(image, dtype=np.float64) + rng.normal(0.0, degradation.noise, image.size[::-1])
        image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "L")
    if degradation.jpeg:
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=degradation.jpeg)
        image = Image.open(io.BytesIO(buffer.getvalue()))
        image.load()
    return image


# The OCR tests' images: one short page per script family, text of the sample corpus's own kind
# (written for this project). Kept small (a third of a page at 200 dpi) so the tests stay fast.
FIXTURES: dict[str, tuple[str, str, bool]] = {
    # name: (script, text, vertical)
    "latin-de": (
        "Latin",
        "Wildbienen bestäuben Obstbäume. Die Vielfalt der Blüten ist für sie überlebenswichtig.",
        False,
    ),
    "cyrillic-ru": ("Cyrillic", "Бородинский хлеб пекут из ржаной муки на закваске с кориандром.", False),
    "greek-el": ("Greek", "Οι μέλισσες επικονιάζουν τα οπωροφόρα δέντρα κάθε άνοιξη.", False),
    "arabic-ar": ("Arabic", "تعيش الشعاب المرجانية في البحر الأحمر في مياه دافئة وصافية.", False),
    "hebrew-he": ("Hebrew", "הדבורים מאביקות את עצי הפרי בכל אביב.", False),
    "devanagari-hi": ("Devanagari", "चंद्रयान तीन ने चंद्रमा के दक्षिणी ध्रुव के पास सफल लैंडिंग की।", False),
    "han-zh": ("Han", "西湖龙井是中国最著名的绿茶之一，产于杭州西湖周围的山区。", False),
    "japanese-ja": ("Japanese", "富士山の宝永噴火は江戸に大量の火山灰を降らせた。", False),
    "japanese-vertical-ja": ("Japanese", "煎茶は日本で最も多く飲まれている緑茶です。", True),
    "korean-ko": ("Korean", "보성 녹차 밭은 한국에서 가장 유명한 차 재배지입니다.", False),
    "thai-th": ("Thai", "ผึ้งช่วยผสมเกสรดอกไม้และต้นไม้ผลไม้ทุกฤดูใบไม้ผลิ", False),
}


def fixture_image(name: str, dpi: int = 200) -> Any:
    script, text, vertical = FIXTURES[name]
    size = (2.6, 4.2) if vertical else (6.5, 1.6)
    return render_page([text], script, dpi, vertical=vertical, points=14, size_inches=size, margin_inches=0.3)


def write_fixtures(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in FIXTURES:
        path = folder / f"{name}.png"
        fixture_image(name).save(path, optimize=True, dpi=(200, 200))  # as a scanner records it
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--fixtures", type=Path, required=True, help="folder for the OCR tests' images")
    args = parser.parse_args(argv)
    missing = fonts_missing(sorted({script for script, _, _ in FIXTURES.values()}))
    if missing:
        print(f"fonts missing for {', '.join(missing)}: apt-get install -y {' '.join(FONT_PACKAGES)}")
        return 2
    for path in write_fixtures(args.fixtures):
        print(f"wrote {path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
