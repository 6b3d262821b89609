"""CPU backends (int8 dynamic quantisation, ONNX Runtime) give the torch path's vectors on tiny models.

"auto" (the app's default) picks ONNX Runtime on a CPU, checks every export against
torch, and stays on torch for a model whose export fails.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from search.core.errors import OnnxExportError
from search.models import backends as embed_backends
from search.models.backends import BACKENDS, onnx_dir, verify_export
from search.models.loading import load_embedder
from search.models.specs import ModelSpec
from tests.tiny_models import save_tiny_decoder, save_tiny_encoder

TEXTS = ["hello world", "the cat is red today and the dog is blue", "x", "der Hund und die Katze ist"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> ModelSpec:
    return save_tiny_encoder(tmp_path_factory.mktemp("backends") / "e5")


def test_models_backend_int8_close_to_torch(
    tiny: ModelSpec, tmp_path: Path, no_network: list[object]
) -> None:
    reference = load_embedder(tiny, cache_dir=tmp_path, backend="torch").encode_documents(TEXTS)
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
    torch_path = load_embedder(tiny, cache_dir=tmp_path, backend="torch")
    onnx = load_embedder(tiny, cache_dir=tmp_path, backend="onnx")
    assert (torch_path.backend, onnx.backend) == ("torch", "onnx")
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
    reference = load_embedder(tiny, cache_dir=tmp_path, backend="torch").encode_documents(TEXTS)
    int8 = load_embedder(tiny, cache_dir=tmp_path, backend="onnx-int8").encode_documents(TEXTS)
    np.testing.assert_allclose(np.linalg.norm(int8, axis=1), 1.0, atol=1e-5)
    assert (int8 * reference).sum(axis=1).min() > 0.98
    (export,) = (tmp_path / "onnx").iterdir()
    assert {"model.onnx", "model.int8.onnx"} <= {p.name for p in export.iterdir()}


def test_models_backend_stale_exports_are_removed(tmp_path: Path) -> None:
    from search.models.backends import _remove_stale_exports

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
    assert BACKENDS == ("auto", "torch", "int8", "onnx", "onnx-int8")


def test_models_backend_auto_runs_onnx_on_the_cpu_with_a_checked_export(
    tiny: ModelSpec, onnx_cache: Path, no_network: list[object]
) -> None:
    auto = load_embedder(tiny, cache_dir=onnx_cache)
    assert auto.backend == "onnx" and auto.device == "cpu"
    reference = load_embedder(tiny, cache_dir=onnx_cache, backend="torch")
    np.testing.assert_allclose(auto.encode_documents(TEXTS), reference.encode_documents(TEXTS), atol=1e-5)
    (record,) = (onnx_cache / "onnx").glob("*/export.json")
    assert json.loads(record.read_text())["max_relative_error"] < 1e-4


def test_models_backend_auto_onnx_keeps_left_padding_and_last_token_pooling(
    tmp_path: Path, no_network: list[object]
) -> None:
    """A Qwen3-style decoder through the exported graph: same vectors alone and in a padded batch."""
    pytest.importorskip("onnxscript", reason="torch.onnx's exporter needs onnxscript")
    decoder = save_tiny_decoder(tmp_path / "qwen")
    auto = load_embedder(decoder, cache_dir=tmp_path)
    reference = load_embedder(decoder, cache_dir=tmp_path, backend="torch")
    if auto.backend != "onnx":
        pytest.fail(f"the tiny decoder did not export: {list((tmp_path / 'onnx').glob('*failed*'))}")
    batch = auto.encode_queries(TEXTS)
    np.testing.assert_allclose(batch, reference.encode_queries(TEXTS), atol=1e-5)
    np.testing.assert_allclose(auto.encode_queries(TEXTS[1:2])[0], batch[1], atol=1e-5)


def test_models_backend_a_wrong_graph_is_refused(tiny: ModelSpec, onnx_cache: Path, tmp_path: Path) -> None:
    from transformers import AutoModel

    load_embedder(tiny, cache_dir=onnx_cache, backend="onnx")
    (graph,) = (onnx_cache / "onnx").glob("*/model.onnx")
    other = save_tiny_encoder(tmp_path / "other", seed=1)  # same shapes, other weights
    with pytest.raises(OnnxExportError, match="differs from the torch model"):
        verify_export(AutoModel.from_pretrained(other.source), graph)


def test_models_backend_auto_falls_back_to_torch_once_and_remembers(
    tiny: ModelSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: list[object]
) -> None:
    monkeypatch.setattr(embed_backends, "onnx_available", lambda: True)
    calls = []

    def failing_export(model: object, dest: Path) -> Path:
        calls.append(dest)
        raise OnnxExportError("unsupported operator")

    monkeypatch.setattr(embed_backends, "export_onnx", failing_export)
    first = load_embedder(tiny, cache_dir=tmp_path)
    second = load_embedder(tiny, cache_dir=tmp_path)
    assert (first.backend, second.backend) == ("torch", "torch")
    assert len(calls) == 1  # the failure is remembered next to the export folder
    np.testing.assert_allclose(first.encode_documents(TEXTS), second.encode_documents(TEXTS), atol=1e-6)


def test_models_backend_auto_is_torch_off_the_cpu(tmp_path: Path) -> None:
    loaded = []
    _, name = embed_backends.build_runner(
        "auto",
        lambda: loaded.append(1) or "torch-model",  # type: ignore[arg-type, func-returns-value]
        model_folder=tmp_path,
        model_id="m",
        cache_dir=tmp_path,
        device="cuda",
    )
    assert name == "torch" and loaded == [1] and not (tmp_path / "onnx").exists()
