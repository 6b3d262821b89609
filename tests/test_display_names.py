"""Names from files cannot drive a terminal or disguise themselves (issue 21, item 10).

A file name can carry terminal escapes (set the title, clear the screen) and bidi overrides
(``rtl\\u202egnp.txt`` reads as ``rtltxt.png``). The command line, its JSON and the page show them
escaped, visibly; the JSON still decodes to the exact name. Bidi embeddings, overrides and isolates
are removed from stored text (the marks right-to-left writing needs stay).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from indexer.extract.textnorm import normalize_text
from search.core.display import excerpt, safe_json, shown_name, shown_text
from search.core.reports import IndexReport, SkippedFile
from search.core.types import Hit
from ui.render import hit_card, index_report_html

REPO = Path(__file__).resolve().parents[1]
TITLE = "\x1b]0;PWNED\x07\x1b[2Jclear.txt"
BIDI = "rtl\u202egnp.txt"


def test_names_are_shown_with_controls_and_bidi_escaped() -> None:
    assert shown_name(BIDI) == "rtl\\u202egnp.txt"
    assert shown_name(TITLE) == "\\x1b]0;PWNED\\x07\\x1b[2Jclear.txt"
    assert shown_name("a\nb\tc\u2066d\u200fé中") == "a\\x0ab\\x09c\\u2066d\\u200fé中"
    assert shown_text("line one\nline\ttwo \x1b[31m\u202e") == "line one\nline\ttwo \\x1b[31m\\u202e"
    assert excerpt("k" * 500).endswith("…'") and len(excerpt("k" * 500)) == 62
    assert excerpt("it's \x1b") == "'it\\'s \\x1b'"
    text = safe_json({"name": BIDI + TITLE})
    assert "\u202e" not in text and "\x1b" not in text and "\x07" not in text
    assert json.loads(text) == {"name": BIDI + TITLE}  # the same data once decoded


def test_stored_text_loses_bidi_overrides_but_keeps_rtl_marks() -> None:
    raw = "price \u202e0021\u202c, \u2067isolated\u2069 \u202aembedded\u202c; عربي\u200f text"
    assert normalize_text(raw) == "price 0021, isolated embedded; عربي\u200f text"


def test_reports_and_cards_show_names_escaped() -> None:
    report = IndexReport(
        root="/docs",
        collection="c",
        model="m",
        files_seen=2,
        indexed=(BIDI,),
        unchanged=0,
        removed=(TITLE,),
        skipped=(SkippedFile(TITLE, "not a regular file"),),
        unsupported=0,
        chunks_written=1,
        chunks_by_language={"en": 1},
        timings={"total": 0.1},
    )
    summary = report.summary()
    assert "\x1b" not in summary and "\x07" not in summary and "\u202e" not in summary
    assert "skipped \\x1b]0;PWNED\\x07\\x1b[2Jclear.txt: not a regular file" in summary
    page = index_report_html(report)
    assert "\u202e" not in page and "rtl\\u202egnp.txt" in page
    card = hit_card(1, Hit("id", 0.5, "text", "/docs/" + BIDI, None, "en", root="/docs"), None)
    assert "\u202e" not in card and "rtl\\u202egnp.txt" in card


@pytest.mark.usefixtures("no_network")
def test_the_command_line_prints_no_raw_escape_or_override(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / TITLE).write_text("honeybees terminal title text", encoding="utf-8")
    (docs / BIDI).write_text(
        "honeybees bidi name text with \u202eevil override\u202c inside", encoding="utf-8"
    )
    common = ["--data-dir", str(tmp_path / "data"), "--cache-dir", str(tmp_path / "cache")]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tests.fake_cli", *common, *args],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            capture_output=True,
            text=True,
            timeout=120,
        )

    outputs = [run("index", str(docs)), run("search", "honeybees"), run("index", str(docs), "--json")]
    searched = run("search", "evil override inside", "--json")
    for result in [*outputs, searched]:
        assert result.returncode == 0, result.stderr[-1000:]
        for raw in ("\x1b", "\x07", "\u202e"):
            assert raw not in result.stdout and raw not in result.stderr, (raw, result.args)
    assert "rtl\\u202egnp.txt" in outputs[1].stdout
    assert set(json.loads(outputs[2].stdout)["indexed"]) == set()  # unchanged on the second run: nothing new
    hits = json.loads(searched.stdout)["hits"]
    assert {hit["source"] for hit in hits} == {TITLE, BIDI}  # exact names in the data
    assert all("\u202e" not in hit["text"] for hit in hits)  # removed from the stored text
