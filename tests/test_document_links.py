"""Result links open at the passage (issue 25): a PDF at the hit's page, text and HTML at a text
fragment of the passage (the browser half is tests/test_ui_first_hour_browser.py)."""

from __future__ import annotations

from search.application.documents import hit_link, text_fragment


def test_pdf_links_open_at_the_page_and_html_at_the_passage() -> None:
    assert hit_link("c", "id", "/d/manual.pdf", 177, "any passage").endswith("/c/id#page=177")
    html = hit_link("c", "id", "/d/chapter.html", None, "Solar panels, on the roof - power\nthe lights")
    assert html.endswith("/c/id#:~:text=Solar%20panels%2C%20on%20the%20roof%20%2D%20power%20the")
    assert hit_link("c", "id", "/d/notes.txt", None, "   ").endswith("/c/id")  # no words: no fragment
    assert hit_link("c", "id", "/d/deck.pptx", 3, "text").endswith("/c/id#page=3")


def test_text_fragment_escapes_its_own_syntax() -> None:
    fragment = text_fragment("a-b,c&d e")
    assert fragment == ":~:text=a%2Db%2Cc%26d%20e"
