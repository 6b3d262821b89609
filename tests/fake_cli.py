"""``python -m tests.fake_cli [--embed-delay S] ARGS...``: app.py's ``main`` with a fake model.

Runs the real command line (argument parsing, settings, the error and Ctrl-C
boundary, the embedded store, the indexing engine) with FakeEmbedder in place of
the real model, so a test can run the CLI as a user would, in a child process it
may interrupt or kill, in about a second.
``--embed-delay`` slows every embedding batch down, so a signal lands mid-run.
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Sequence

import numpy as np

import app
from search.application.search_app import SearchApp
from search.application.services import IndexerFactory, Services, open_store
from search.core.settings import Settings
from search.models.registry import ModelRegistry
from search.models.specs import ModelSpec
from tests.fakes import FakeEmbedder, fake_spec


class SlowEmbedder(FakeEmbedder):
    delay = 0.0

    def encode_documents(self, texts: Sequence[str]) -> np.ndarray:
        time.sleep(self.delay)
        return super().encode_documents(texts)


def build(
    settings: Settings, *, indexer_factory: IndexerFactory | None = None, any_reranker: bool = False
) -> SearchApp:
    spec = fake_spec()
    settings = settings.with_overrides(default_model=spec.name)

    def embedder(model: ModelSpec) -> FakeEmbedder:
        return SlowEmbedder(model)

    services = Services(
        settings,
        open_store(settings),
        ModelRegistry((spec,)),
        embedder_factory=embedder,
        indexer_factory=indexer_factory,  # what app.py wires
    )
    return SearchApp(services, any_reranker=any_reranker)


def main(argv: Sequence[str]) -> int:
    # Started from a background job (a CI step, `cmd &`), a process inherits SIGINT ignored and
    # Python then never raises KeyboardInterrupt; the tests that send Ctrl-C need it back.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    args = list(argv)
    if args[:1] == ["--embed-delay"]:
        SlowEmbedder.delay = float(args[1])
        args = args[2:]
    SearchApp.build = staticmethod(build)  # type: ignore[assignment,method-assign]
    return app.main(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
