"""The app's API through gradio_client: search, compare, index (folder and upload), evaluation.

One app per module, launched on a free loopback port with fake models and a
small multilingual folder indexed with two models.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from tests.ui_harness import FAKE_MODEL, OTHER_MODEL, RunningApp, free_port, make_app, start_app
from ui.app import build_app, launch_options, serve

COLLECTION = f"docs-{FAKE_MODEL}"
OTHER = f"docs-{OTHER_MODEL}"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    running = start_app(tmp_path_factory.mktemp("ui-api"))
    yield running
    running.close()


@pytest.fixture(scope="module")
def client(app: RunningApp) -> Client:
    return Client(app.url, verbose=False)


def search(
    client: Client,
    query: str,
    collection: str = COLLECTION,
    languages: list[str] | None = None,
    k: int = 5,
    mode: str = "dense",
    stage: str = "none",
    highlight: str = "semantic",
) -> tuple[str, str, dict]:
    return client.predict(query, collection, languages or [], k, mode, stage, highlight, api_name="/search")


def test_endpoints_are_named(client: Client) -> None:
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert names == {"/search", "/compare", "/evaluate", "/index_folder", "/index_uploads"}


def test_server_is_local_only(app: RunningApp) -> None:
    assert app.url.startswith("http://127.0.0.1:")
    options = launch_options(app.app)
    assert options["server_name"] == "127.0.0.1" and options["share"] is False
    assert options["max_file_size"] == "1mb"
    assert app.demo.analytics_enabled is False


def test_launch_and_search_make_no_network_calls(no_network: list[object], tmp_path: Path) -> None:
    search_app = make_app(tmp_path)
    demo = build_app(search_app)
    try:
        url = serve(demo, search_app, port=free_port(), block=False)
        assert url.startswith("http://127.0.0.1:")
        _, _, data = Client(url, verbose=False).predict(
            "bees", None, [], 5, "dense", "none", "off", api_name="/search"
        )
        assert "No collection yet" in data["error"]
    finally:
        demo.close()
        search_app.close()


def test_search_finds_the_expected_source(client: Client, no_network: list[object]) -> None:
    cards, summary, data = search(client, "varroa mite honeybee colonies winter")
    assert data["hits"][0]["source"] == "bees/en-varroa.txt"
    assert data["hits"][0]["language"] == "en"
    assert "bees/en-varroa.txt" in cards and "#1" in cards
    assert "total" in summary and "highlight" in data["timings_ms"]
    start, end = data["hits"][0]["highlight"]
    assert (
        data["hits"][0]["text"][start:end] == "The varroa mite weakens honeybee colonies during the winter."
    )
    assert "<mark>The varroa mite weakens honeybee colonies during the winter.</mark>" in cards


def test_document_markup_is_escaped(client: Client) -> None:
    cards, _, data = search(client, "security notes plain text escaping matters")
    assert data["hits"][0]["source"] == "misc/en-hostile.txt"
    assert "<script>window.__pwned" in data["hits"][0]["text"]  # the data is untouched ...
    assert "<script" not in cards.lower() and "<img" not in cards.lower()  # ... the markup is escaped
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in cards


def test_language_filter_and_modes(client: Client) -> None:
    _, _, data = search(client, "thé vert matcha feuilles", languages=["fr", "ja"], k=10)
    assert data["hits"] and {h["language"] for h in data["hits"]} <= {"fr", "ja"}
    assert data["hits"][0]["source"] == "tea/fr-the-vert.txt"
    for mode in ("sparse", "hybrid"):
        _, _, data = search(client, "Wildbienen Nistplätze", mode=mode, highlight="lexical")
        assert data["mode"] == mode and data["hits"][0]["source"] == "bees/de-wildbienen.md"


def test_second_stage_reorders_the_candidates(client: Client) -> None:
    _, summary, data = search(client, "varroa mite honeybee colonies winter", k=3, stage="shortest-first")
    assert data["second_stage"] == "shortest-first" and "rerank" in data["timings_ms"]
    lengths = [len(hit["text"]) for hit in data["hits"]]
    assert lengths == sorted(lengths) and "+ shortest-first" in summary


def test_search_without_a_collection_uses_the_default_one(client: Client) -> None:
    """An API client that names no collection gets the default one while collections exist (it used to be
    told "No collection yet")."""
    _, _, data = search(client, "varroa mite honeybee colonies", collection=None)  # type: ignore[arg-type]
    assert "error" not in data
    assert data["collection"] == COLLECTION and data["hits"][0]["source"] == "bees/en-varroa.txt"


@pytest.mark.parametrize(
    ("query", "kwargs", "expected"),
    [
        ("", {}, "empty"),
        ("\x00\x01\u200b\t \n", {}, "empty"),
        ("bees", {"collection": "no-such-collection"}, "No collection 'no-such-collection'"),
        ("bees", {"collection": "../../etc"}, "No collection"),
        ("bees", {"languages": ["<script>"]}, "Not a language code"),
    ],
)
def test_bad_requests_are_messages_not_tracebacks(
    client: Client, query: str, kwargs: dict, expected: str
) -> None:
    cards, _, data = search(client, query, **kwargs)
    assert expected in data["error"]
    assert "Traceback" not in cards and 'class="mls-msg warn"' in cards


@pytest.mark.parametrize(
    "kwargs",
    [{"mode": "telepathy"}, {"stage": "/etc"}, {"highlight": "<x>"}, {"k": 0}, {"k": 10_000}],
)
def test_values_outside_the_offered_choices_are_refused(client: Client, kwargs: dict) -> None:
    """Gradio checks fixed pickers before our code runs (make_request checks again: test_ui_searching)."""
    with pytest.raises(AppError, match="not in the list of choices|minimum|maximum"):
        search(client, "bees", **kwargs)


@pytest.mark.parametrize(
    "query",
    [
        "x" * 20_000,
        "'; DROP TABLE chunks; -- <script>alert(1)</script> {{7*7}} ${jndi:ldap://x}",
        "\u202e\u0000evil\x1b[31m colonies \ud7ff",
        "../../etc/passwd",
    ],
)
def test_hostile_queries_are_handled(client: Client, query: str) -> None:
    cards, _, data = search(client, query)
    assert "error" not in data
    assert "<script" not in cards.lower()
    assert len(data["query"]) <= 2000
    assert not re.search(r"[\x00-\x08\x1b]", data["query"])


def test_compare_two_models_side_by_side(client: Client) -> None:
    columns, overlap, latency = client.predict(
        "varroa mite winter colonies",
        5,
        True,
        COLLECTION,
        "dense",
        "none",
        True,
        OTHER,
        "dense",
        "none",
        True,
        COLLECTION,
        "hybrid",
        "none",
        api_name="/compare",
    )
    assert columns.count('class="mls-col"') == 3
    assert "bees/en-varroa.txt" in columns
    rows = overlap["data"]
    assert len(rows) == 3 and all(0.0 <= float(row[2]) <= 1.0 for row in rows)
    assert latency.count(" ms") == 3


def test_compare_needs_two_pipelines(client: Client) -> None:
    columns, _, _ = client.predict(
        "bees",
        5,
        True,
        COLLECTION,
        "dense",
        "none",
        False,
        OTHER,
        "dense",
        "none",
        False,
        COLLECTION,
        "dense",
        "none",
        api_name="/compare",
    )
    assert "at least two" in columns


@pytest.mark.parametrize("folder", ["../../etc", "/etc", "/", "docs/../../.."])
def test_index_folder_outside_allowed_roots_is_refused(client: Client, folder: str) -> None:
    report = client.predict(folder, FAKE_MODEL, "", api_name="/index_folder")
    assert "outside the folders" in report


def test_index_folder_rejects_unknown_models_and_names(client: Client, app: RunningApp) -> None:
    with pytest.raises(AppError, match="not in the list of choices"):  # a model path could load any folder
        client.predict(str(app.docs), "/tmp/evil-model", "", api_name="/index_folder")
    assert "Invalid collection name" in client.predict(
        str(app.docs), FAKE_MODEL, "../x", api_name="/index_folder"
    )


def test_index_folder_inside_root_then_search(client: Client, app: RunningApp) -> None:
    extra = app.docs / "moon"
    extra.mkdir()
    (extra / "en-regolith.txt").write_text(
        "Lunar regolith covers the Moon with sharp grey dust.", encoding="utf-8"
    )
    report = client.predict("moon", FAKE_MODEL, "moon-only", api_name="/index_folder")
    assert "1</b> files indexed" in report and "moon-only" in report
    _, _, data = search(client, "lunar regolith dust", collection="moon-only")
    assert data["hits"][0]["source"] == "en-regolith.txt"


def test_upload_index_and_find(client: Client, app: RunningApp, tmp_path: Path) -> None:
    upload = tmp_path / "zh-fengchao.txt"
    upload.write_text("蜂巢 六边形 蜂蜡 结构 很 坚固", encoding="utf-8")
    report = client.predict([handle_file(upload)], FAKE_MODEL, "", api_name="/index_uploads")
    assert "zh-fengchao.txt" in report and "1</b> files indexed" in report
    _, _, data = search(client, "蜂巢 六边形 蜂蜡")
    assert data["hits"][0]["source"] == "zh-fengchao.txt"
    assert data["hits"][0]["language"] == "zh"
    # in a folder of its own below the uploads folder, and Gradio's temporary copy is gone
    (saved,) = (app.services.settings.data_dir / "uploads").glob("*/zh-fengchao.txt")
    assert saved.read_text(encoding="utf-8") == upload.read_text(encoding="utf-8")


def test_upload_of_other_types_is_rejected(client: Client, tmp_path: Path) -> None:
    bad = tmp_path / "tool.exe"
    bad.write_bytes(b"MZ")
    with pytest.raises(AppError, match="Invalid file type"):
        client.predict([handle_file(bad)], FAKE_MODEL, "", api_name="/index_uploads")


def test_upload_over_the_size_limit_is_rejected(client: Client, tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_bytes(b"word " * 300_000)  # 1.5 MB > max_upload_mb=1
    with pytest.raises(Exception, match="(?i)size|large|413"):
        client.predict([handle_file(big)], FAKE_MODEL, "", api_name="/index_uploads")


def test_evaluate_two_models_on_a_query_set(client: Client, app: RunningApp) -> None:
    summary, table, bars, heatmap, report_file, text = client.predict(
        str(app.queryset), [FAKE_MODEL, OTHER_MODEL], ["dense", "hybrid"], [], api_name="/evaluate"
    )
    assert "5 queries with judgements" in summary, summary
    assert [row[0] for row in table["data"]] == [
        FAKE_MODEL,
        f"{FAKE_MODEL}/hybrid",
        OTHER_MODEL,
        f"{OTHER_MODEL}/hybrid",
    ]
    assert table["headers"][1] == "nDCG@10"
    assert all(0.5 <= float(row[1]) <= 1.0 for row in table["data"])  # bag-of-words finds these easily
    assert Path(bars).is_file() and Path(heatmap).is_file() and Path(report_file).is_file()
    assert "by query language" in text


def test_evaluate_refuses_folders_outside(client: Client) -> None:
    summary, *_ = client.predict("/etc", [FAKE_MODEL], ["dense"], [], api_name="/evaluate")
    assert "outside the folders" in summary


def test_search_takes_a_correction_variant_and_a_query_prompt(client: Client) -> None:
    """The advanced options reach the search and the JSON says what was searched (issue 25)."""
    _, summary, data = client.predict(
        "varroa", COLLECTION, [], 5, "dense", "none", "off", "auto", "raw", "question: ", api_name="/search"
    )
    assert data["correction"] == "raw" and data["query_prompt"] == "question: ", summary
    assert data["query_prompt_set_by"] == "user" and data["hits"]
    _, _, own = search(client, "varroa")
    assert (own["query_prompt"], own["query_prompt_set_by"]) == ("query: ", "model")
    # The fake models have no language correction: their collections have no "vote" variant.
    _, _, refused = client.predict(
        "varroa", COLLECTION, [], 5, "dense", "none", "off", "auto", "vote", "", api_name="/search"
    )
    assert "no 'vote' variant" in refused["error"] and "\n" not in refused["error"]


def test_compare_puts_two_query_prompts_of_one_collection_side_by_side(client: Client) -> None:
    columns, _, latency = client.predict(
        "bees",
        5,
        True,
        COLLECTION,
        "dense",
        "none",
        True,
        COLLECTION,
        "dense",
        "none",
        False,
        COLLECTION,
        "dense",
        "none",
        "as recorded",
        "",
        "raw",
        "find: ",
        "as recorded",
        "",
        api_name="/compare",
    )
    assert columns.count('class="mls-col"') == 2
    assert "[raw, prompt" in columns and latency.count(" ms") == 2


def test_evaluate_with_correction_variants_and_prompts(client: Client, app: RunningApp) -> None:
    summary, table, *_ = client.predict(
        str(app.queryset), [FAKE_MODEL], ["dense"], [], ["raw", "vote"], "find: ", api_name="/evaluate"
    )
    assert [row[0] for row in table["data"]] == [
        f"{FAKE_MODEL} [raw]",
        f'{FAKE_MODEL} [raw, prompt "find: "]',
    ]
    assert "has no language correction" in summary  # said, not three copies of one pipeline
