"""The server/cluster path: CLI-level settings become the collection Qdrant is asked to create.

No server runs here, so the REST call is captured where qdrant-client hands the
request body to its HTTP layer: the ``CreateCollection`` model it would PUT to
``/collections/{name}``. The same settings are also accepted by local mode.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from qdrant_client import models
from qdrant_client.qdrant_remote import QdrantRemote

from search.application.services import open_store
from search.core.settings import Settings
from search.stores.base import DENSE, SPARSE, CollectionMeta, Point
from search.stores.client import META_KEY, ClientStore
from search.stores.payload import INDEXED_FIELDS
from tests.fakes import fake_spec
from tests.store_search import search_dense

pytestmark = [
    pytest.mark.usefixtures("no_network"),
    pytest.mark.filterwarnings("ignore:Failed to obtain server version"),  # no server: the check fails
]

META = CollectionMeta.for_model(fake_spec(dimension=8))
URL = "http://127.0.0.1:9"  # nothing listens: every call that is not stubbed fails loudly


class FakeServer:
    """Stands in for the HTTP layer under one remote QdrantClient and records what it was sent."""

    def __init__(self, store: ClientStore, monkeypatch: pytest.MonkeyPatch) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.indexes: list[tuple[str, Any]] = []
        self.metadata: dict[str, Any] | None = None
        client = store._client  # the public QdrantClient
        remote = client._client  # its QdrantRemote: the layer that builds REST bodies
        assert isinstance(remote, QdrantRemote)

        def create(collection_name: str, create_collection: models.CreateCollection, **_: Any) -> Any:
            self.bodies.append(json.loads(create_collection.model_dump_json(exclude_none=True)))
            self.metadata = create_collection.metadata
            return SimpleNamespace(result=True)

        monkeypatch.setattr(remote.http.collections_api, "create_collection", create)
        monkeypatch.setattr(client, "collection_exists", lambda name: self.metadata is not None)
        monkeypatch.setattr(
            client,
            "get_collection",
            lambda name: SimpleNamespace(config=SimpleNamespace(metadata=self.metadata)),
        )
        monkeypatch.setattr(
            client,
            "create_payload_index",
            lambda name, key, schema, wait=True: self.indexes.append((key, schema)),
        )


def remote_store(monkeypatch: pytest.MonkeyPatch, **options: Any) -> tuple[ClientStore, FakeServer]:
    store = ClientStore(URL, **options)
    return store, FakeServer(store, monkeypatch)


def test_cluster_settings_reach_the_create_collection_request(monkeypatch: pytest.MonkeyPatch) -> None:
    store, server = remote_store(
        monkeypatch,
        shards=6,
        replication_factor=2,
        write_consistency_factor=2,
        on_disk=True,
        quantization="int8",
    )
    store.create_collection("docs", META)

    (body,) = server.bodies
    assert body["shard_number"] == 6
    assert body["replication_factor"] == 2
    assert body["write_consistency_factor"] == 2
    assert body["on_disk_payload"] is True
    assert body["vectors"] == {DENSE: {"size": 8, "distance": "Cosine", "on_disk": True}}
    assert body["sparse_vectors"] == {SPARSE: {"index": {"on_disk": True}, "modifier": "idf"}}
    assert body["quantization_config"] == {"scalar": {"type": "int8", "quantile": 0.99, "always_ram": True}}
    assert body["hnsw_config"]["m"] == 0  # int8: the embedded store's rescored scan, no graph
    assert body["metadata"][META_KEY]["model"] == META.model  # the model description travels with it
    assert [key for key, _ in server.indexes] == list(INDEXED_FIELDS)  # filters and facets need them
    assert {schema for _, schema in server.indexes} == {models.PayloadSchemaType.KEYWORD}
    assert store.get_meta("docs") == META


def test_without_options_the_server_defaults_apply(monkeypatch: pytest.MonkeyPatch) -> None:
    store, server = remote_store(monkeypatch)
    store.create_collection("docs", META)

    (body,) = server.bodies
    for key in (
        "shard_number",
        "replication_factor",
        "write_consistency_factor",
        "on_disk_payload",
        "quantization_config",
    ):
        assert key not in body, key
    assert body["vectors"] == {DENSE: {"size": 8, "distance": "Cosine"}}
    assert body["hnsw_config"]["m"] == 32  # float vectors on a server keep a graph


def test_app_settings_build_the_same_request(monkeypatch: pytest.MonkeyPatch) -> None:
    """What `app.py --qdrant-url ... --shards --replicas --on-disk --quantization` turns into."""
    settings = Settings(qdrant_url=URL, shards=3, replication_factor=2, on_disk=True, quantization="int8")
    store = open_store(settings)
    assert isinstance(store, ClientStore)
    server = FakeServer(store, monkeypatch)
    store.create_collection("docs", META)

    (body,) = server.bodies
    assert (body["shard_number"], body["replication_factor"], body["on_disk_payload"]) == (3, 2, True)
    assert body["quantization_config"]["scalar"]["type"] == "int8"


def test_an_existing_collection_is_not_created_again(monkeypatch: pytest.MonkeyPatch) -> None:
    store, server = remote_store(monkeypatch, shards=2)
    store.create_collection("docs", META)
    store.create_collection("docs", META)  # a second index run against the same server
    assert len(server.bodies) == 1


def test_unknown_quantization_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="int8"):
        ClientStore(":memory:", quantization="binary")


def test_local_mode_accepts_the_cluster_settings_and_searches() -> None:
    """The same options in local mode (no sharding there): nothing to reject, search still exact."""
    store = ClientStore(
        ":memory:",
        shards=4,
        replication_factor=2,
        write_consistency_factor=2,
        on_disk=True,
        quantization="int8",
    )
    try:
        store.create_collection("docs", META)
        rng = np.random.default_rng(0)
        vectors = rng.standard_normal((20, 8)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        ids = [f"00000000-0000-0000-0000-{i:012d}" for i in range(20)]
        store.upsert(
            "docs", [Point(id=i, vector=v, payload={"language": "en"}) for i, v in zip(ids, vectors)]
        )
        assert search_dense(store, "docs", vectors[7], 1)[0].id == ids[7]
    finally:
        store.close()
