"""Hybrid search on real XQuAD data with the default model (slow: loads the bundled model, needs evaldata)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from benchmarks.common import REPO

pytestmark = [pytest.mark.slow, pytest.mark.model]


def _evaldata() -> Path | None:
    env = os.environ.get("MLSEARCH_EVALDATA")
    for path in ([Path(env)] if env else []) + [REPO.parent / "shared" / "evaldata"]:
        if (path / "xquad").is_dir():
            return path
    return None


@pytest.fixture(scope="module")
def evaldata() -> Path:
    path = _evaldata()
    if path is None:
        pytest.skip(
            "XQuAD not found: expected ../shared/evaldata/xquad next to the checkout (or MLSEARCH_EVALDATA)"
        )
    return path


def test_hybrid_keeps_up_with_dense_on_same_language_xquad(evaldata: Path, tmp_path: Path) -> None:
    from benchmarks.second_stage import FIRST_STAGES, Bench
    from indexer.service import FolderIndexer
    from search.application.evaluating import EvalWorkspace
    from search.application.services import Services
    from search.core.settings import Settings
    from search.evaluation.xquad import xquad_same_language

    services = Services.build(Settings(data_dir=tmp_path / "app"))
    try:
        with EvalWorkspace(FolderIndexer()) as workspace:
            # The model's raw vectors: the fusion itself is under test (with the vote DBSF reads moved
            # dense scores and loses to dense; README, "Models").
            bench = Bench(services, workspace, "multilingual-e5-small", "raw")
            for lang in ("en", "zh"):
                report = bench.run(xquad_same_language(evaldata, lang, limit=40), FIRST_STAGES, 2, 30)
                ndcg = {name: report.overall[name]["ndcg@10"] for name in report.pipelines}
                assert set(ndcg) == {p.name for p in FIRST_STAGES}
                assert ndcg["sparse"] > 0.8, ndcg  # the subword BM25 works for Latin and Han script alike
                assert ndcg["hybrid-dbsf"] >= ndcg["dense"] - 0.01, ndcg
                assert set(report.latency) == set(ndcg)
    finally:
        services.close()
