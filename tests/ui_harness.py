"""A real app on a free port, built from fakes: used by the gradio_client and browser tests.

FakeEmbedder (bag of hashed words) makes results predictable: a query shares
words with the document it should find. A word-hash tokenizer gives the fake
model a sparse encoder, so sparse and hybrid modes exist in the UI too.
"""

from __future__ import annotations

import hashlib
import json
import re
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from indexer.service import FolderIndexer
from search.application.search_app import SearchApp
from search.application.services import Services
from search.core.settings import Settings
from search.core.types import Hit
from search.models.registry import ModelRegistry
from search.models.reranker import order_by_scores
from search.stores.edge import EdgeStore
from search.text.bm25 import SubwordBM25Encoder
from tests.fakes import FakeEmbedder, fake_spec
from ui.app import build_app, serve

FAKE_MODEL = "fake-hash-64"
OTHER_MODEL = "fake-hash-32"
_WORD = re.compile(r"\w+", re.UNICODE)

DOCUMENTS = {
    "bees/en-varroa.txt": (
        "Honeybees and the varroa mite.\n\nThe varroa mite weakens honeybee colonies during the winter. "
        "Beekeepers treat their hives with oxalic acid in late autumn. Strong colonies survive the cold."
    ),
    "bees/de-wildbienen.md": (
        "# Wildbienen\n\nWildbienen bestäuben Obstbäume und Wildblumen. Viele Arten sind gefährdet, "
        "weil Nistplätze fehlen. Gärtner helfen mit offenen Sandflächen."
    ),
    # full-width punctuation (，：（）) that NFKC would turn into ASCII: snippets must quote it as written
    "tea/ja-sencha.txt": "煎茶（せんちゃ）は蒸した緑茶です。主な産地：静岡県，日本最大の茶の産地です。",
    "tea/fr-the-vert.txt": (
        "Le thé vert est cueilli au printemps. Les feuilles sont chauffées pour arrêter l'oxydation. "
        "Le matcha est moulu en poudre fine."
    ),
    "cycling/es-sevilla.md": (
        "Sevilla construyó ochenta kilómetros de carriles bici protegidos en pocos años. "
        "El uso de la bicicleta se multiplicó por diez."
    ),
    "misc/en-hostile.txt": (
        "Security notes. This page quotes <script>window.__pwned = 1</script> and "
        '<img src=x onerror="window.__pwned = 2"> as plain text. Escaping matters.'
    ),
}


# A tiny labelled query set over DOCUMENTS (BEIR layout), so evaluation tests take seconds.
QUERIES = [
    {"_id": "q1", "text": "varroa mite honeybee colonies", "language": "en"},
    {"_id": "q2", "text": "Wildbienen Nistplätze Gärtner", "language": "de"},
    {"_id": "q3", "text": "thé vert matcha", "language": "fr"},
    {"_id": "q4", "text": "carriles bici Sevilla", "language": "es"},
    {"_id": "q5", "text": "煎茶 静岡県", "language": "ja"},
]
QRELS = [
    ("q1", "bees/en-varroa.txt", 2),
    ("q1", "bees/de-wildbienen.md", 1),
    ("q2", "bees/de-wildbienen.md", 2),
    ("q3", "tea/fr-the-vert.txt", 2),
    ("q3", "tea/ja-sencha.txt", 1),
    ("q4", "cycling/es-sevilla.md", 2),
    ("q5", "tea/ja-sencha.txt", 2),
]
LANGUAGES = {
    "bees/de-wildbienen.md": "de",
    "tea/ja-sencha.txt": "ja",
    "tea/fr-the-vert.txt": "fr",
    "cycling/es-sevilla.md": "es",
}


def write_queryset(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    corpus = [
        {"_id": rel, "title": "", "text": text, "language": LANGUAGES.get(rel, "en")}
        for rel, text in DOCUMENTS.items()
    ]
    (folder / "corpus.jsonl").write_text(
        "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in corpus), encoding="utf-8"
    )
    (folder / "queries.jsonl").write_text(
        "".join(json.dumps(q, ensure_ascii=False) + "\n" for q in QUERIES), encoding="utf-8"
    )
    rows = ["query-id\tcorpus-id\tscore", *(f"{q}\t{d}\t{g}" for q, d, g in QRELS)]
    (folder / "qrels.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder


class WordHashTokenizer:
    """Words -> stable ids: the sparse encoder's tokenizer for the fake model."""

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        return [
            [
                int.from_bytes(hashlib.blake2b(w.encode(), digest_size=4).digest(), "little")
                for w in _WORD.findall(t)
            ]
            for t in texts
        ]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_documents(folder: Path, documents: dict[str, str] = DOCUMENTS) -> Path:
    for rel, text in documents.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return folder


class LengthReranker:
    """A second stage whose order is known in advance: shortest passage first."""

    name = "shortest-first"

    def rerank(self, query: str, hits: Sequence[Hit], k: int) -> list[Hit]:
        return order_by_scores(hits, [1.0 / (1 + len(hit.text)) for hit in hits], k)


class FakeServices(Services):
    """Services that report one available second stage, as the real ones report installed rerankers."""

    def available_rerankers(self) -> list[str]:
        return [LengthReranker.name]


def make_services(tmp: Path, allowed_roots: Sequence[Path] = (), max_upload_mb: int = 1) -> Services:
    registry = ModelRegistry((fake_spec(FAKE_MODEL, 64, 128), fake_spec(OTHER_MODEL, 32, 128)))
    settings = Settings(
        data_dir=tmp / "data",
        cache_dir=tmp / "cache",
        default_model=FAKE_MODEL,
        allowed_roots=tuple(allowed_roots),
        max_upload_mb=max_upload_mb,
    )
    return FakeServices(
        settings,
        EdgeStore(settings.data_dir / "qdrant"),
        registry=registry,
        embedder_factory=FakeEmbedder,
        sparse_factory=lambda embedder: SubwordBM25Encoder(WordHashTokenizer(), embedder.spec.name),
        reranker_factory=lambda name: LengthReranker(),
        indexer_factory=FolderIndexer,
    )


def make_app(tmp: Path, allowed_roots: Sequence[Path] = (), max_upload_mb: int = 1) -> SearchApp:
    return SearchApp(make_services(tmp, allowed_roots, max_upload_mb))


@dataclass
class RunningApp:
    app: SearchApp
    demo: gr.Blocks
    url: str
    docs: Path  # indexed folder (also an allowed root)
    queryset: Path

    @property
    def services(self) -> Services:
        return self.app.services

    def close(self) -> None:
        self.demo.close()
        self.app.close()


def start_app(tmp: Path, index_models: Sequence[str] = (FAKE_MODEL, OTHER_MODEL)) -> RunningApp:
    """Index the small folder with each model, then launch the app on a free loopback port.

    The app's sample folder holds only the tiny query set (Evaluate's default and the example
    queries); the default model's collection exists, so no first-launch indexing starts.
    """
    docs = write_documents(tmp / "docs")
    queryset = write_queryset(tmp / "sample" / "queryset")
    app = make_app(tmp, allowed_roots=(tmp / "docs",))
    for model in index_models:
        app.index_folder(docs, model)
    demo = build_app(app, sample_folder=queryset.parent)
    url = serve(demo, app, port=free_port(), block=False)
    return RunningApp(app, demo, url, docs, queryset)


def start_fresh_app(tmp: Path) -> RunningApp:
    """A first launch: no collection yet, a sample folder with documents; the app's bootstrap indexes them
    (with the default model, then the second model for the Compare tab) after the server started."""
    sample = tmp / "sample"
    docs = write_documents(sample / "documents")
    queryset = write_queryset(sample / "queryset")
    app = make_app(tmp, allowed_roots=(docs,))
    demo = build_app(app, sample_folder=sample)
    url = serve(demo, app, port=free_port(), block=False)
    return RunningApp(app, demo, url, docs, queryset)
