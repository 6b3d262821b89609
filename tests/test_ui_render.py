"""Result rendering: everything escaped, the highlight placed between escaped pieces, sentence picking."""

from __future__ import annotations

import html
import re

import numpy as np

from search.core.types import Hit
from search.retrieval.highlight import Highlight, LexicalHighlighter, SemanticHighlighter, char_ngrams
from tests.fakes import FakeEmbedder
from ui.render import (
    Column,
    compare_html,
    documents_in_order,
    hit_card,
    marked,
    overlap_at_k,
    overlap_rows,
    result_cards,
    snippet_window,
    timings_text,
)

HOSTILE = '<script>alert("x")</script> <img src=x onerror="alert(1)"> & \'quotes\''


def _hit(text: str, source: str = "/data/docs/a.txt", heading: str = "") -> Hit:
    return Hit("c1", 0.5, text, source, None, "en", heading=heading, root="/data/docs")


def _tags(markup: str) -> set[str]:
    return {m.lower() for m in re.findall(r"<\s*([a-zA-Z]+)", markup)}


def test_document_text_file_name_and_heading_are_escaped() -> None:
    hit = _hit(HOSTILE, source=f"/data/docs/{HOSTILE}.txt", heading=HOSTILE)
    card = hit_card(1, hit, None)
    assert "<script" not in card.lower() and "<img" not in card.lower()
    assert html.escape(HOSTILE, quote=True) in card
    assert _tags(card) <= {"div", "span", "details", "summary", "mark"}


def test_highlight_is_marked_and_surroundings_escaped() -> None:
    text = "First <b>one</b>. Second sentence here. Third & last."
    start = text.index("Second")
    end = text.index("here.") + len("here.")
    out = marked(text, 0, len(text), Highlight(start, end, 0.9))
    assert out == "First &lt;b&gt;one&lt;/b&gt;. <mark>Second sentence here.</mark> Third &amp; last."


def test_highlight_containing_markup_is_escaped_inside_mark() -> None:
    text = "Intro. <script>x()</script> is the answer. Outro."
    start = text.index("<script>")
    out = marked(text, 0, len(text), Highlight(start, text.index("Outro") - 1, 1.0))
    assert "<mark>&lt;script&gt;x()&lt;/script&gt; is the answer.</mark>" in out


def test_snippet_window_keeps_the_highlight_in_view() -> None:
    text = ("filler words " * 200) + "The needle sentence. " + ("more words " * 200)
    start = text.index("The needle")
    window = snippet_window(text, Highlight(start, start + 20, 1.0), size=300)
    assert window[0] <= start and start + 20 <= window[1]
    assert window[1] - window[0] <= 320
    card = hit_card(3, _hit(text), Highlight(start, start + 20, 1.0))
    assert "<mark>The needle sentence.</mark>" in card
    assert card.count("<mark>") == 2  # snippet and the full-passage expander


def test_cards_show_rank_score_language_source_and_page() -> None:
    hit = Hit("c", 0.87654, "Text.", "/r/topic/de-file.pdf", 4, "de", root="/r")
    card = result_cards([hit], [None])
    assert (
        "#1" in card and "0.877" in card and ">de<" in card and "topic/de-file.pdf" in card and "p. 4" in card
    )


def test_no_results_message() -> None:
    assert "No results" in result_cards([], [])


def test_timings_text_puts_total_last() -> None:
    assert (
        timings_text({"total": 20.4, "embed": 12.2, "search": 3}) == "embed 12 ms · search 3 ms · total 20 ms"
    )


def test_semantic_highlighter_picks_the_sentence_closest_to_the_query() -> None:
    embedder = FakeEmbedder()
    texts = [
        "Bees pollinate flowers. The varroa mite kills honeybee colonies in winter. Honey is sweet.",
        "Only one sentence here",
    ]
    query = "varroa mite colonies winter"
    vector = embedder.encode_queries([query])[0]
    marks = SemanticHighlighter(embedder).pick(query, vector, texts)
    assert marks[1] is None  # nothing to single out in a one-sentence passage
    first = marks[0]
    assert (
        first is not None
        and texts[0][first.start : first.end] == "The varroa mite kills honeybee colonies in winter."
    )
    # without a query vector (sparse searches) it embeds the query itself
    again = SemanticHighlighter(embedder).pick(query, None, texts)
    assert again[0] == first


def test_semantic_highlighter_batches_all_sentences_in_one_call() -> None:
    embedder = FakeEmbedder()
    texts = [f"Sentence one about {i}. Sentence two about {i}." for i in range(10)]
    SemanticHighlighter(embedder).pick("q", np.ones(64, dtype=np.float32) / 8, texts)
    assert embedder.calls == [("document", 20)]


def test_semantic_highlighter_stays_within_its_budget() -> None:
    embedder = FakeEmbedder()
    texts = [f"Alpha {i} beta. Gamma {i} delta." for i in range(30)]
    marks = SemanticHighlighter(embedder, max_total=40).pick("gamma delta", None, texts)
    assert embedder.calls == [("query", 1), ("document", 40)]  # 20 hits by the model ...
    assert all(
        m is not None and texts[i][m.start : m.end].startswith("Gamma") for i, m in enumerate(marks)
    )  # ... 10 lexical


def test_lexical_highlighter_works_for_cjk_and_latin() -> None:
    texts = ["蜜蜂很重要。瓦螨会杀死蜂群。茶很好喝。", "Le thé vert. Les abeilles meurent en hiver. Fin."]
    marks = LexicalHighlighter().pick("瓦螨 abeilles hiver", None, texts)
    assert marks[0] is not None and texts[0][marks[0].start : marks[0].end] == "瓦螨会杀死蜂群。"
    assert (
        marks[1] is not None and texts[1][marks[1].start : marks[1].end] == "Les abeilles meurent en hiver."
    )
    assert "瓦螨" in char_ngrams("瓦螨", 3)


def test_overlap_at_k_on_documents() -> None:
    a = [Hit(str(i), 1.0, "t", f"/r/{s}", None, "en", root="/r") for i, s in enumerate("aabcd")]
    b = [Hit(str(i), 1.0, "t", f"/r/{s}", None, "en", root="/r") for i, s in enumerate("dcxy")]
    assert documents_in_order(a) == ["/r/a", "/r/b", "/r/c", "/r/d"]
    assert overlap_at_k(documents_in_order(a), documents_in_order(b), 4) == 0.5
    assert overlap_at_k(["x", "y"], ["y", "x"], 10) == 1.0  # fewer than k documents exist
    assert overlap_at_k(["x", "y", "z"], ["x"], 10) == 1 / 3
    assert overlap_at_k([], [], 5) == 0.0
    cols = [Column("A", tuple(a), 5.0), Column("B", tuple(b), 7.0), Column("C", error="<boom>")]
    assert overlap_rows(cols, 4) == [["A", "B", 0.5]]
    markup = compare_html(cols, 4)
    assert "&lt;boom&gt;" in markup and "<boom>" not in markup
