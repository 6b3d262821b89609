"""CPU backends (int8 dynamic quantisation, ONNX Runtime) give the torch path's vectors on tiny models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from search.embed_backends import BACKENDS, onnx_dir
from search.embedders import load_embedder
from search.models import ModelSpec
from tests.tiny_models import save_tiny_encoder

TEXTS = ["hello world", "the cat is red today and the dog is blue", "x", "der Hund und die Katze ist"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> ModelSpec:
    return save_tiny_encoder(tmp_path_factory.mktemp("backends") / "e5")


def test_models_backend_int8_close_to_torch(
    tiny: ModelSpec, tmp_path: Path, no_network: list[object]
) -> None:
    reference = load_embedder(tiny, cache_dir=tmp_path).encode_documents(TEXTS)
    int8 = load_embedder(tiny, cache_dir=tmp_path, backend="int8").encode_documents(TEXTS)
    assert int8.dtype == np.float32 and int8.shape == reference.shape
    np.testing.assert_allclose(np.linalg.norm(int8, axis=1), 1.0, atol=1e-5)
    assert (int8 * reference).sum(axis=1).min() > 0.98


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One export shared by the ONNX tests (exporting is the slow part)."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnxscript", reason="torch.onnx's exporter needs onnxscript")
    return tmp_path_factory.mktemp("onnx-cache")


def test_models_backend_onnx_matches_torch_and_is_exported_once(
    tiny: ModelSpec, onnx_cache: Path, no_network: list[object]
) -> None:
    tmp_path = onnx_cache
    torch_path = load_embedder(tiny, cache_dir=tmp_path)
    onnx = load_embedder(tiny, cache_dir=tmp_path, backend="onnx")
    onnx._batch_size = 2  # several batches with different shapes through one graph
    np.testing.assert_allclose(onnx.encode_documents(TEXTS), torch_path.encode_documents(TEXTS), atol=1e-5)
    np.testing.assert_allclose(
        onnx.encode_queries(TEXTS[:1]), torch_path.encode_queries(TEXTS[:1]), atol=1e-5
    )
    exports = list((tmp_path / "onnx").iterdir())
    assert len(exports) == 1 and (exports[0] / "model.onnx").is_file()
    mtime = (exports[0] / "model.onnx").stat().st_mtime
    load_embedder(tiny, cache_dir=tmp_path, backend="onnx")  # reuses the export
    assert (exports[0] / "model.onnx").stat().st_mtime == mtime
    assert exports[0] == onnx_dir(tmp_path, Path(tiny.source), f"{tiny.name}-{tiny.revision}")


def test_models_backend_onnx_int8_close_to_torch(
    tiny: ModelSpec, onnx_cache: Path, no_network: list[object]
) -> None:
    tmp_path = onnx_cache
    reference = load_embedder(tiny, cache_dir=tmp_path).encode_documents(TEXTS)
    int8 = load_embedder(tiny, cache_dir=tmp_path, backend="onnx-int8").encode_documents(TEXTS)
    np.testing.assert_allclose(np.linalg.norm(int8, axis=1), 1.0, atol=1e-5)
    assert (int8 * reference).sum(axis=1).min() > 0.98
    (export,) = (tmp_path / "onnx").iterdir()
    assert {"model.onnx", "model.int8.onnx"} <= {p.name for p in export.iterdir()}


def test_models_backend_stale_exports_are_removed(tmp_path: Path) -> None:
    from search.embed_backends import _remove_stale_exports

    onnx = tmp_path / "onnx"
    for name in ("m-1-0123456789abcdef", "m-1-fedcba9876543210", "m-1-extra-0123456789abcdef", ".m-1-x.tmp"):
        (onnx / name).mkdir(parents=True)
    _remove_stale_exports(onnx / "m-1-fedcba9876543210")
    assert sorted(p.name for p in onnx.iterdir()) == [
        ".m-1-x.tmp",
        "m-1-extra-0123456789abcdef",
        "m-1-fedcba9876543210",
    ]


def test_models_backend_unknown_is_refused(tiny: ModelSpec, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown backend"):
        load_embedder(tiny, cache_dir=tmp_path, backend="tensorrt")  # type: ignore[arg-type]
    assert BACKENDS == ("torch", "int8", "onnx", "onnx-int8")
