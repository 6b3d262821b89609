"""HTML for results, comparisons and reports.

Every piece of text that comes from a document, a file name, a query or an
error message goes through ``esc`` before it is placed in markup: a document
containing ``<script>`` renders as the text ``<script>``. Markup is only ever
built around already-escaped pieces (the highlight is inserted between escaped
slices, never into escaped text).
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from search.application.searching import LABELS, RERANK_SCORE_HELP, SCORE_HELP, Highlight
from search.core.display import shown_name
from search.core.reports import IndexReport
from search.core.types import Hit

CSS = """
.mls-results { display: flex; flex-direction: column; gap: 10px; }
.mls-card { border: 1px solid var(--border-color-primary); border-radius: 10px; padding: 10px 14px;
  background: var(--block-background-fill); }
.mls-head { display: flex; flex-wrap: wrap; align-items: center; gap: 8px; font-size: 0.92em; }
.mls-rank { font-weight: 700; min-width: 1.8em; }
.mls-score { font-family: var(--font-mono); color: var(--body-text-color-subdued); }
.mls-badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 0.8em;
  font-weight: 600; background: var(--color-accent-soft); color: var(--color-accent); text-transform: uppercase; }
.mls-source { font-weight: 600; word-break: break-all; }
.mls-page { color: var(--body-text-color-subdued); }
.mls-ocr { font-size: 0.8em; padding: 1px 8px; border-radius: 999px; border: 1px dashed currentColor;
  color: var(--body-text-color-subdued); }
.mls-cue { font-size: 0.8em; padding: 1px 8px; border-radius: 999px; border: 1px solid currentColor; }
.mls-cue-strong { color: #15803d; }
.mls-cue-weak { color: #b45309; }
.mls-cue-none { color: var(--body-text-color-subdued); }
.mls-open { margin-left: auto; font-size: 0.85em; }
textarea, input[type=text] { unicode-bidi: plaintext; }
.mls-heading { margin-top: 4px; font-style: italic; color: var(--body-text-color-subdued); }
.mls-snippet { margin-top: 6px; white-space: pre-line; line-height: 1.5; }
.mls-snippet mark, .mls-full mark { background: #fde68a; color: inherit; padding: 0 2px; border-radius: 3px; }
.mls-full { white-space: pre-line; margin-top: 4px; font-size: 0.92em; }
.mls-msg { padding: 10px 14px; border-radius: 8px; border: 1px solid var(--border-color-primary); }
.mls-msg.warn { border-color: #f59e0b; background: rgba(245, 158, 11, 0.08); }
.mls-msg.err { border-color: #ef4444; background: rgba(239, 68, 68, 0.08); }
.mls-compare { display: grid; gap: 12px; grid-template-columns: repeat(auto-fit, minmax(260px, 1fr)); }
.mls-col h4 { margin: 0 0 6px 0; }
.mls-col ol { padding-left: 1.4em; margin: 0; }
.mls-col li { margin-bottom: 6px; }
.mls-small { font-size: 0.85em; color: var(--body-text-color-subdued); }
.mls-shared { border-left: 3px solid var(--color-accent); padding-left: 6px; }
.mls-only::marker { content: "◆ "; color: var(--color-accent); }
.mls-table { border-collapse: collapse; margin: 6px 0; }
.mls-table td, .mls-table th { border: 1px solid var(--border-color-primary); padding: 3px 10px; text-align: left; }
"""

SNIPPET_CHARS = 600
CONTEXT_BEFORE = 160


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def esc_name(text: object) -> str:
    """A file name or id for a page: escaped, with control and bidi characters shown as escapes
    (``rtl\u202egnp.txt`` must not read as ``rtltxt.png``)."""
    return esc(shown_name(text))


def message(text: str, kind: str = "info") -> str:
    """A boxed note; ``kind`` is info, warn or err."""
    css = {"warn": "mls-msg warn", "err": "mls-msg err"}.get(kind, "mls-msg")
    return f'<div class="{css}">{esc(text)}</div>'


def marked(text: str, start: int, end: int, highlight: Highlight | None) -> str:
    """``text[start:end]`` escaped, with the highlighted sentence (clipped to the window) in <mark>."""
    if highlight is None or highlight.end <= start or highlight.start >= end:
        return esc(text[start:end])
    a, b = max(start, highlight.start), min(end, highlight.end)
    return f"{esc(text[start:a])}<mark>{esc(text[a:b])}</mark>{esc(text[b:end])}"


def snippet_window(text: str, highlight: Highlight | None, size: int = SNIPPET_CHARS) -> tuple[int, int]:
    """A window of about ``size`` characters that shows the highlighted sentence with some context."""
    if len(text) <= size:
        return 0, len(text)
    if highlight is None:
        start = 0
    else:
        start = max(0, highlight.start - CONTEXT_BEFORE)
        if highlight.end - start > size:  # a very long sentence: start at the sentence itself
            start = highlight.start
        space = text.rfind(" ", max(0, start - 20), start)
        start = space + 1 if space > 0 else start
    end = min(len(text), start + size)
    if end < len(text):
        space = text.find(" ", end, end + 20)
        end = space if space != -1 else end
    return start, end


def snippet_html(text: str, highlight: Highlight | None, size: int = SNIPPET_CHARS) -> str:
    start, end = snippet_window(text, highlight, size)
    body = marked(text, start, end, highlight)
    return ("… " if start > 0 else "") + body + (" …" if end < len(text) else "")


def page_label(page: int | None) -> str:
    return f"p. {page}" if page else ""


HEADING_LINES = 6  # a chunk opens with its run of headings (a title, then a section's) at most this long


def repeats_heading(text: str, heading: str) -> bool:
    """Whether the passage already shows its heading in its opening lines.

    The heading is context for passages below it. A chunk that starts at a heading
    quotes it, either first or after the document title above it ("Title\nSection\n...").
    """
    wanted = " ".join(heading.split())
    if not wanted:
        return True
    opening = text.lstrip()
    if " ".join(opening[: len(heading) + 8].split()).startswith(wanted):
        return True
    return any(
        " ".join(line.split()) == wanted for line in opening.split("\n", HEADING_LINES)[:HEADING_LINES]
    )


CUE_HELP = (
    "how this passage compares with what meaningless queries reach in this collection, with thresholds "
    "calibrated for this model and mode on held-out sets (see the README, Relevance cue)"
)


def score_help(mode: str) -> str:
    return "Score: " + SCORE_HELP.get(mode, RERANK_SCORE_HELP)


def hit_card(
    rank: int,
    hit: Hit,
    highlight: Highlight | None,
    link: str | None = None,
    cue: str | None = None,
    mode: str = "dense",
) -> str:
    page = page_label(hit.page)
    heading = (
        f'<div class="mls-heading" dir="auto">{esc(hit.heading)}</div>'
        if hit.heading and not repeats_heading(hit.text, hit.heading)
        else ""
    )
    truncated = len(hit.text) > SNIPPET_CHARS
    full = (
        f'<details><summary class="mls-small">Full passage ({len(hit.text)} characters)</summary>'
        f'<div class="mls-full" dir="auto">{marked(hit.text, 0, len(hit.text), highlight)}</div></details>'
        if truncated
        else ""
    )
    return (
        '<div class="mls-card">'
        '<div class="mls-head">'
        f'<span class="mls-rank">#{rank}</span>'
        f'<span class="mls-score" title="{esc(score_help(mode))}">{hit.score:.3f}</span>'
        + (
            f'<span class="mls-cue mls-cue-{esc(cue)}" title="{esc(CUE_HELP)}">{esc(LABELS[cue])}</span>'
            if cue in LABELS
            else ""
        )
        + f'<span class="mls-badge" title="language of this passage">{esc(hit.language)}</span>'
        f'<span class="mls-source">{esc_name(hit.relpath)}</span>'
        + (f'<span class="mls-page">{esc(page)}</span>' if page else "")
        + ocr_badge(hit.ocr)
        + (
            f'<a class="mls-open" href="{esc(link)}" target="_blank" rel="noopener noreferrer" '
            f'title="open the source document">open ↗</a>'
            if link
            else ""
        )
        + "</div>"
        + heading
        + f'<div class="mls-snippet" dir="auto">{snippet_html(hit.text, highlight)}</div>'
        + full
        + "</div>"
    )


def ocr_badge(confidence: float | None) -> str:
    """Marks a passage read by OCR from a scanned page or an image, with Tesseract's mean word confidence."""
    if confidence is None:
        return ""
    help_text = (
        f"text read by OCR (Tesseract) from a scanned page or an image; mean word confidence "
        f"{confidence:.0f} of 100: the words may differ from the page"
    )
    return f'<span class="mls-ocr" title="{esc(help_text)}">OCR {confidence:.0f}%</span>'


def result_cards(
    hits: Sequence[Hit],
    highlights: Sequence[Highlight | None],
    kind: str = "off",
    links: Sequence[str | None] = (),
    cues: Sequence[str | None] = (),
    mode: str = "dense",
) -> str:
    """Cards in rank order; ``kind`` (how sentences were picked) is kept as a data attribute."""
    if not hits:
        return message(
            "No results. Try another query, fewer language filters, or another collection.", "warn"
        )
    marks = list(highlights) + [None] * (len(hits) - len(highlights))
    hrefs = list(links) + [None] * (len(hits) - len(links))
    labels: list[str | None] = [*cues] + [None] * (len(hits) - len(cues))
    cards = "".join(
        hit_card(rank, hit, mark, href, cue, mode)
        for rank, (hit, mark, href, cue) in enumerate(zip(hits, marks, hrefs, labels), 1)
    )
    return f'<div class="mls-results" data-highlight="{esc(kind)}">{cards}</div>'


def timings_text(timings: Mapping[str, float]) -> str:
    """'embed 12 ms · search 3 ms · total 15 ms' (total last)."""
    parts = [f"{stage} {ms:.0f} ms" for stage, ms in timings.items() if stage != "total"]
    if "total" in timings:
        parts.append(f"total {timings['total']:.0f} ms")
    return " · ".join(parts)


@dataclass(frozen=True)
class Column:
    """One side of a comparison, already run."""

    label: str
    hits: tuple[Hit, ...] = ()
    latency_ms: float | None = None
    error: str | None = None
    warnings: tuple[str, ...] = ()  # the model out of its depth (languages it does not support)


def documents_in_order(hits: Sequence[Hit]) -> list[str]:
    """Chunk hits folded to their files, best first: what overlap between models is measured on."""
    seen: dict[str, None] = {}
    for hit in hits:
        seen.setdefault(hit.source, None)
    return list(seen)


def overlap_at_k(a: Sequence[str], b: Sequence[str], k: int) -> float:
    """|top-k(a) ∩ top-k(b)| / k, with k capped at the longer list (a collection smaller than k
    cannot fill it, and two identical complete rankings should read 1.0)."""
    depth = min(k, max(len(a), len(b)))
    if depth <= 0:
        return 0.0
    return len(set(a[:k]) & set(b[:k])) / depth


def language_mix(hits: Sequence[Hit]) -> str:
    """ "de 6 · en 3 · fr 1": the languages of a side's results, most first."""
    counts: dict[str, int] = {}
    for hit in hits:
        counts[hit.language] = counts.get(hit.language, 0) + 1
    return " · ".join(f"{lang} {n}" for lang, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def only_found_by(docs: Sequence[Sequence[str]], k: int) -> list[set[str]]:
    """For each side, the documents in its top k that no other side has in its top k."""
    tops = [set(d[:k]) for d in docs]
    return [
        top - set().union(*(other for j, other in enumerate(tops) if j != i)) for i, top in enumerate(tops)
    ]


def compare_html(columns: Sequence[Column], k: int) -> str:
    docs = [documents_in_order(col.hits) for col in columns]
    shared = set.intersection(*(set(d[:k]) for d in docs)) if docs and all(docs) else set()
    only = only_found_by([d if not col.error else [] for d, col in zip(docs, columns)], k)
    blocks = []
    for col, col_docs, col_only in zip(columns, docs, only):
        if col.error:
            body = message(col.error, "err")
        elif not col.hits:
            body = message("No results.", "warn")
        else:
            items = []
            for hit in col.hits:
                cls = (
                    ' class="mls-shared"'
                    if hit.source in shared
                    else (' class="mls-only"' if hit.source in col_only else "")
                )
                flat = " ".join(hit.text.split())
                short = flat[:160] + ("…" if len(flat) > 160 else "")
                page = page_label(hit.page)
                items.append(
                    f'<li{cls}><span class="mls-score">{hit.score:.3f}</span> '
                    f'<span class="mls-badge">{esc(hit.language)}</span> '
                    f'<span class="mls-source">{esc_name(hit.relpath)}</span>'
                    + (f' <span class="mls-page">{esc(page)}</span>' if page else "")
                    + f'<div class="mls-small" dir="auto">{esc(short)}</div></li>'
                )
            body = f"<ol>{''.join(items)}</ol>"
        latency = f"{col.latency_ms:.0f} ms" if col.latency_ms is not None else "–"
        flags = "".join(message(w, "warn") for w in col.warnings)
        mix = f" · languages: {esc(language_mix(col.hits))}" if col.hits else ""
        blocks.append(
            f'<div class="mls-col"><h4>{esc(col.label)}</h4>'
            f'<div class="mls-small mls-col-stats">latency {esc(latency)} · {len(col_docs)} documents · '
            f"{len(col_only)} found only here{mix}</div>{flags}{body}</div>"
        )
    note = (
        '<div class="mls-small">Highlighted rows: documents every pipeline found in its top '
        f"{k}; rows marked ◆ only this pipeline found. Overlap is measured on documents (passages folded to "
        "their files), since models chunk differently.</div>"
    )
    return f'<div class="mls-compare">{"".join(blocks)}</div>{note}'


def overlap_rows(columns: Sequence[Column], k: int) -> list[list[object]]:
    """[pipeline A, pipeline B, overlap@k] for every pair that ran."""
    return [row[:3] for row in pair_rows(columns, k)]


def pair_rows(columns: Sequence[Column], k: int) -> list[list[object]]:
    """[pipeline A, pipeline B, overlap@k, only A found, only B found] for every pair that ran."""
    docs = [documents_in_order(col.hits) for col in columns]
    rows: list[list[object]] = []
    for i in range(len(columns)):
        for j in range(i + 1, len(columns)):
            if columns[i].error or columns[j].error:
                continue
            a, b = set(docs[i][:k]), set(docs[j][:k])
            overlap = round(overlap_at_k(docs[i], docs[j], k), 3)
            rows.append([columns[i].label, columns[j].label, overlap, len(a - b), len(b - a)])
    return rows


def index_report_html(report: IndexReport) -> str:
    head = (
        f"<p><b>{len(report.indexed)}</b> files indexed, <b>{report.unchanged}</b> unchanged, "
        f"<b>{len(report.skipped)}</b> skipped, <b>{len(report.removed)}</b> removed, "
        f"{report.unsupported} of unsupported types"
        + (f", {report.ignored} ignored (.mlsearchignore)" if report.ignored else "")
        + f" · <b>{report.chunks_written}</b> new passages "
        f"into <code>{esc(report.collection)}</code> with <code>{esc(report.model)}</code>"
        + (" · <b>cancelled</b>" if report.cancelled else "")
        + f" · {report.timings.get('total', 0):.1f} s</p>"
    )
    if report.vectors_reused:
        head += (
            f"<p>{report.vectors_reused} of the {report.chunks_written} passages' vectors were reused from the "
            "embedding cache (texts embedded before with this model), not computed again.</p>"
        )
    if report.unsupported:
        head += f"<p>{esc_name(report.unsupported_note[:1].upper() + report.unsupported_note[1:])}.</p>"
    if report.unsupported_languages:
        head += message(report.language_warning, "warn")
    langs = sorted(report.chunks_by_language.items(), key=lambda kv: (-kv[1], kv[0]))
    lang_table = (
        '<table class="mls-table"><tr><th>language</th><th>passages</th></tr>'
        + "".join(f"<tr><td>{esc(lang)}</td><td>{n}</td></tr>" for lang, n in langs)
        + "</table>"
        if langs
        else ""
    )
    skipped = (
        '<details open><summary>Skipped files</summary><table class="mls-table"><tr><th>file</th><th>reason</th></tr>'
        + "".join(
            f"<tr><td>{esc_name(s.path)}</td><td>{esc_name(s.reason)}</td></tr>" for s in report.skipped
        )
        + "</table></details>"
        if report.skipped
        else ""
    )
    indexed = (
        f"<details><summary>Indexed files ({len(report.indexed)})</summary><ul>"
        + "".join(f"<li>{esc_name(path)}</li>" for path in report.indexed)
        + "</ul></details>"
        if report.indexed
        else ""
    )
    return f"<div>{head}{lang_table}{skipped}{indexed}</div>"


def progress_html(label: str, done: int, total: int, step: str = "", seconds: float = 0.0) -> str:
    """A progress bar with the step it belongs to; indeterminate (with the time spent) until a total is known."""
    if total <= 0:
        bar = '<progress style="width:100%"></progress>'
        counts = f"{seconds:.0f} s" if seconds >= 1 else ""
    else:
        bar = f'<progress value="{min(done, total)}" max="{total}" style="width:100%"></progress>'
        counts = f"{done} / {total} files"
    head = f"<div><b>{esc(step[:1].upper() + step[1:])}</b></div>" if step else ""
    return (
        f'<div class="mls-msg" id="first-launch-progress">{head}<div>{esc(label)}</div>{bar}'
        f'<div class="mls-small">{esc(counts)}</div></div>'
    )
