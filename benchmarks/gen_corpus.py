"""A multilingual folder for indexing benchmarks, recombined from the sample corpora's own text.

Why: throughput has to be measured on a folder big enough that start-up costs do
not dominate (thousands of chunks), in the formats users have and in the
languages the app is for, without shipping or downloading anything. The sample
documents are extracted with the project's own loaders; their paragraphs are
shuffled into new files of one language each, with headings, in txt, md, html,
pdf (PyMuPDF) and docx (python-docx). The same seed gives the same folder.

    python -m benchmarks.gen_corpus OUT_DIR [--files 600] [--seed 0]
"""

from __future__ import annotations

import argparse
import html
import io
import random
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import REPO
from indexer.extract.loaders import LoaderConfig, discover, load_document

SAMPLE_DOCUMENTS = REPO / "sample_corpora" / "documents"
# Share of files per format: mostly cheap text formats, some of the parsed ones.
FORMAT_MIX: Mapping[str, float] = {"txt": 0.3, "md": 0.25, "html": 0.25, "pdf": 0.1, "docx": 0.1}
PARAGRAPHS_PER_FILE = (4, 28)  # ~55 tokens each: 1 to ~7 chunks of 256 tokens per file
HEADING_EVERY = (3, 8)  # paragraphs between headings
FILES_PER_FOLDER = 100


@dataclass(frozen=True)
class LanguageText:
    """One language's paragraphs and headings, the material files are recombined from."""

    paragraphs: tuple[str, ...]
    headings: tuple[str, ...]


@dataclass(frozen=True)
class Block:
    kind: str  # "title" | "heading" | "para"
    text: str


@dataclass(frozen=True)
class GeneratedCorpus:
    root: Path
    files: int
    bytes: int
    by_format: Mapping[str, int]
    by_language: Mapping[str, int]

    def summary(self) -> str:
        formats = ", ".join(f"{k} {v}" for k, v in sorted(self.by_format.items()))
        return (
            f"{self.files} files ({formats}), {len(self.by_language)} languages, "
            f"{self.bytes / 1e6:.1f} MB in {self.root}"
        )


def sample_text(documents: Path = SAMPLE_DOCUMENTS) -> dict[str, LanguageText]:
    """Paragraphs and headings of the sample documents, grouped by document language."""
    config = LoaderConfig()
    paragraphs: dict[str, list[str]] = defaultdict(list)
    headings: dict[str, list[str]] = defaultdict(list)
    for entry in discover(documents, config).files:
        doc = load_document(Path(entry.path), documents, config)
        for section in doc.sections:
            (headings if section.kind == "title" else paragraphs)[doc.language].append(section.text)
    return {
        lang: LanguageText(tuple(texts), tuple(headings.get(lang) or texts[:1]))
        for lang, texts in sorted(paragraphs.items())
    }


def compose(rng: random.Random, text: LanguageText) -> list[Block]:
    """A title, then shuffled paragraphs with a heading every few of them."""
    count = rng.randint(*PARAGRAPHS_PER_FILE)
    picked = [rng.choice(text.paragraphs) for _ in range(count)]
    blocks = [Block("title", rng.choice(text.headings))]
    until_heading = rng.randint(*HEADING_EVERY)
    for paragraph in picked:
        if until_heading == 0:
            blocks.append(Block("heading", rng.choice(text.headings)))
            until_heading = rng.randint(*HEADING_EVERY)
        blocks.append(Block("para", paragraph))
        until_heading -= 1
    return blocks


def render_txt(blocks: Sequence[Block]) -> bytes:
    return ("\n\n".join(b.text for b in blocks) + "\n").encode("utf-8")


def render_md(blocks: Sequence[Block]) -> bytes:
    marks = {"title": "# ", "heading": "## ", "para": ""}
    return ("\n\n".join(marks[b.kind] + b.text for b in blocks) + "\n").encode("utf-8")


def _html_body(blocks: Sequence[Block]) -> str:
    tags = {"title": "h1", "heading": "h2", "para": "p"}
    return "\n".join(f"<{tags[b.kind]}>{html.escape(b.text, quote=False)}</{tags[b.kind]}>" for b in blocks)


def render_html(blocks: Sequence[Block], language: str) -> bytes:
    page = (
        f'<!DOCTYPE html>\n<html lang="{language}"><head><meta charset="utf-8">'
        f"<title>{html.escape(blocks[0].text)}</title></head>\n<body>\n{_html_body(blocks)}\n</body></html>\n"
    )
    return page.encode("utf-8")


def render_pdf(blocks: Sequence[Block], language: str) -> bytes:
    import pymupdf

    mediabox = pymupdf.paper_rect("a4")
    where = mediabox + (62, 62, -62, -62)  # noqa: RUF005 - Rect arithmetic: the margins inset the page
    buffer = io.BytesIO()
    writer = pymupdf.DocumentWriter(buffer)
    story = pymupdf.Story(html=f'<body lang="{language}">{_html_body(blocks)}</body>')
    more = 1
    while more:  # as many pages as the text needs
        device = writer.begin_page(mediabox)
        more, _ = story.place(where)
        story.draw(device)
        writer.end_page()
    writer.close()
    doc = pymupdf.open("pdf", buffer.getvalue())
    doc.subset_fonts()  # the CJK fallback font is several MB whole
    data = doc.tobytes(garbage=3, deflate=True)
    doc.close()
    return data


def render_docx(blocks: Sequence[Block]) -> bytes:
    import docx

    document = docx.Document()
    for block in blocks:
        if block.kind == "para":
            document.add_paragraph(block.text)
        else:
            document.add_heading(block.text, level=0 if block.kind == "title" else 1)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def render(fmt: str, blocks: Sequence[Block], language: str) -> bytes:
    if fmt == "txt":
        return render_txt(blocks)
    if fmt == "md":
        return render_md(blocks)
    if fmt == "html":
        return render_html(blocks, language)
    if fmt == "pdf":
        return render_pdf(blocks, language)
    if fmt == "docx":
        return render_docx(blocks)
    raise ValueError(f"unknown format {fmt!r}; choose from {sorted(FORMAT_MIX)}")


def format_sequence(count: int, formats: Mapping[str, float]) -> list[str]:
    """Formats in the given shares, each as early as its share allows: even 10 files get all five."""
    total = sum(formats.values())
    done: Counter[str] = Counter()
    sequence = []
    for index in range(count):
        fmt = max(sorted(formats), key=lambda name: formats[name] / total * (index + 1) - done[name])
        done[fmt] += 1
        sequence.append(fmt)
    return sequence


def generate(
    out: Path,
    files: int,
    *,
    seed: int = 0,
    source: Mapping[str, LanguageText] | None = None,
    formats: Mapping[str, float] = FORMAT_MIX,
) -> GeneratedCorpus:
    """Write ``files`` documents under ``out`` (which may exist; same-named files are overwritten)."""
    source = source if source is not None else sample_text()
    languages = sorted(source)
    rng = random.Random(seed)
    by_format: Counter[str] = Counter()
    by_language: Counter[str] = Counter()
    size = 0
    for index, fmt in enumerate(format_sequence(files, formats)):
        language = languages[index % len(languages)]  # every language equally often
        data = render(fmt, compose(rng, source[language]), language)
        path = out / f"part{index // FILES_PER_FOLDER:03d}" / f"{language}-{index:05d}.{fmt}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        by_format[fmt] += 1
        by_language[language] += 1
        size += len(data)
    return GeneratedCorpus(out, files, size, dict(by_format), dict(by_language))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out", type=Path)
    parser.add_argument("--files", type=int, default=600, help="~5 chunks of 256 tokens per file on average")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(generate(args.out, args.files, seed=args.seed).summary())


if __name__ == "__main__":
    main()
