"""The one HTML path (indexer.extract.htmlstream) on the shapes real pages have: line breaks, blocks
inside table cells, <pre> listings, layout tables with empty cells."""

from __future__ import annotations

import pytest

from indexer.extract.htmlstream import html_sections


def _texts(markup: str) -> list[tuple[str, str]]:
    return [(s.kind, s.text) for s in html_sections(markup)]


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        ("<p>a<br>b<br/>c</p>", [("text", "a b c")]),  # a line break is not a block
        ("<h2>Title<br>Sub</h2><p>x</p>", [("title", "Title Sub"), ("text", "x")]),
        ("<table><tr><td>Item<br>Detail</td><td>2</td></tr></table>", [("table", "Item Detail | 2")]),
        (
            "<table><tr><td><p>first</p><p>second</p></td><td><ul><li>a</li><li>b</li></ul></td></tr></table>",
            [("table", "first second | a b")],
        ),
        ("<table><tr><td>x</td><td></td><td> </td></tr></table>", [("table", "x")]),  # trailing layout cells
        (
            "<pre>deb http://a main\ndeb-src http://a main\n</pre>",
            [("text", "deb http://a main\ndeb-src http://a main")],
        ),
        ("<pre>one<br>two</pre>", [("text", "one\ntwo")]),
        ("<p>keep <script>var x;</script>this</p>", [("text", "keep this")]),
    ],
)
def test_sections_of_real_page_shapes(markup: str, expected: list[tuple[str, str]]) -> None:
    assert _texts(f"<html><body>{markup}</body></html>") == expected
