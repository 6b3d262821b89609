"""The application layer: what a search costs in store calls, and settings passed down from the entry point."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import app as cli
from indexer.service import FolderIndexer
from search.application.search_app import SearchApp
from search.application.searching import make_request
from search.application.services import Services
from search.core.settings import Settings
from search.models.registry import ModelRegistry
from search.models.specs import ModelSpec
from search.stores.client import ClientStore
from tests.fakes import FakeEmbedder, fake_spec


class CountingClient:
    """Wraps a QdrantClient and counts every method call: each is a round trip against a server."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return attr(*args, **kwargs)

        return counted


def _app(tmp_path: Path) -> tuple[SearchApp, CountingClient]:
    spec = fake_spec()
    store = ClientStore(":memory:")
    counting = CountingClient(store._client)
    store._client = counting  # type: ignore[assignment]
    services = Services(
        Settings(data_dir=tmp_path / "data", cache_dir=tmp_path / "cache", default_model=spec.name),
        store,
        registry=ModelRegistry((spec,)),
        embedder_factory=FakeEmbedder,
        indexer_factory=FolderIndexer,
    )
    return SearchApp(services), counting


@pytest.mark.parametrize("collections", [1, 5, 20])
def test_one_search_costs_at_most_two_store_calls(tmp_path: Path, collections: int) -> None:
    """Not 2N+8 (the old UI path): the catalog keeps descriptions; a search confirms one and queries."""
    app, client = _app(tmp_path)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "bees.txt").write_text("Honeybees and the varroa mite in winter.", encoding="utf-8")
    for i in range(collections):
        app.index_folder(docs, collection=f"c{i:02d}")
    app.collections()  # the page lists them once (on load)
    for query in ("varroa mite", "honeybees winter", "varroa"):
        client.calls.clear()
        outcome = app.search(make_request(query, "c00", [], 5, "dense", None, "off"))
        assert outcome.result.hits and outcome.result.hits[0].relpath == "bees.txt"
        assert sum(client.calls.values()) <= 2, dict(client.calls)
    client.calls.clear()
    app.search(make_request("varroa", "c00", ["en"], 5, "dense", None, "semantic"))
    assert sum(client.calls.values()) <= 2, dict(client.calls)
    app.close()


def test_a_collection_rebuilt_by_another_process_is_noticed(tmp_path: Path) -> None:
    """The confirming call catches a description changed behind the catalog's back."""
    app, _ = _app(tmp_path)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Honeybees and the varroa mite.", encoding="utf-8")
    app.index_folder(docs, collection="shared")
    first = app.search(make_request("varroa", "shared", [], 5, "dense", None, "off"))
    assert first.result.hits
    app.services.store.drop_collection("shared")  # as another process would
    with pytest.raises(Exception, match="shared"):
        app.search(make_request("varroa", "shared", [], 5, "dense", None, "off"))
    app.close()


def test_each_model_loads_behind_its_own_lock(tmp_path: Path) -> None:
    """A search for a loaded model does not wait behind another model's slow first load."""
    fast, slow = fake_spec("fast"), fake_spec("slow")
    started = threading.Event()

    def factory(spec: Any) -> FakeEmbedder:
        if spec.name == "slow":
            started.set()
            time.sleep(1.5)
        return FakeEmbedder(spec)

    services = Services(
        Settings(data_dir=tmp_path, cache_dir=tmp_path / "cache", default_model="fast"),
        ClientStore(":memory:"),
        registry=ModelRegistry((fast, slow)),
        embedder_factory=factory,
    )
    services.embedder("fast")
    loader = threading.Thread(target=services.embedder, args=("slow",))
    loader.start()
    assert started.wait(5)
    t0 = time.perf_counter()
    services.embedder("fast")
    assert time.perf_counter() - t0 < 0.2
    loader.join()
    services.close()


@pytest.fixture
def restore_network_policy() -> Iterator[None]:
    yield
    from search.core.environment import apply_network_policy

    apply_network_policy(False)


def test_allow_downloads_reaches_the_hub_client_and_the_default_stays_offline(
    tmp_path: Path, restore_network_policy: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import constants

    common = ["--data-dir", str(tmp_path / "data"), "--cache-dir", str(tmp_path / "cache")]
    assert cli.main([*common, "collections"]) == 0
    assert constants.is_offline_mode()
    assert cli.main(["--allow-downloads", *common, "collections"]) == 0
    assert not constants.is_offline_mode()

    # ... and the setting itself is what the model loader gets (no environment read back).
    seen: list[bool] = []

    def resolve(spec: ModelSpec, **kwargs: Any) -> Path:
        seen.append(kwargs["allow_downloads"])
        raise cli_error()

    def cli_error() -> Exception:
        from search.core.errors import ModelNotAvailableError

        return ModelNotAvailableError("stop here")

    monkeypatch.setattr("search.models.loading.model_folder", resolve)
    for flags, expected in (([], False), (["--allow-downloads"], True)):
        settings = cli.settings_from_args(cli.build_parser().parse_args([*flags, *common, "collections"]))
        services = Services(settings, ClientStore(":memory:"))
        with pytest.raises(Exception, match="stop here"):
            services.embedder("intfloat/multilingual-e5-base")
        services.close()
        assert seen[-1] is expected


def test_cli_port_and_host_are_accepted_before_the_command() -> None:
    args = cli.build_parser().parse_args(["--port", "7861", "--host", "0.0.0.0"])
    settings = cli.settings_from_args(args)
    assert (settings.port, settings.host) == (7861, "0.0.0.0") and args.command is None
    args = cli.build_parser().parse_args(["serve", "--port", "7862"])
    assert cli.settings_from_args(args).port == 7862
