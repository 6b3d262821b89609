"""Backends (bf16, autocast, int8, ONNX Runtime) give the torch path's vectors on tiny models; "auto"
follows the plan measured on this machine (timing mocked: tests/fake_timing.py), made once and cached.

Every ONNX export is checked against torch; a model whose export fails is planned without ONNX,
and the failure is remembered so it is not exported again.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from search.core.errors import OnnxExportError
from search.models import backends as embed_backends
from search.models.backends import BACKENDS, onnx_dir, verify_export
from search.models.encoders import planning
from search.models.planner import Plan, save_plan
from search.models.specs import ModelSpec
from tests.fake_timing import fake_timing, native_bf16_cpu
from tests.tiny_models import load_transformers, save_tiny_decoder, save_tiny_encoder

TEXTS = ["hello world", "the cat is red today and the dog is blue", "x", "der Hund und die Katze ist"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> ModelSpec:
    return save_tiny_encoder(tmp_path_factory.mktemp("backends") / "e5")


def test_models_backend_int8_close_to_torch(
    tiny: ModelSpec, tmp_path: Path, no_network: list[object]
) -> None:
    reference = load_transformers(tiny, cache_dir=tmp_path, backend="torch").encode_documents(TEXTS)
    int8 = load_transformers(tiny, cache_dir=tmp_path, backend="int8").encode_documents(TEXTS)
    assert int8.dtype == np.float32 and int8.shape == reference.shape
    np.testing.assert_allclose(np.linalg.norm(int8, axis=1), 1.0, atol=1e-5)
    assert (int8 * reference).sum(axis=1).min() > 0.98


@pytest.mark.parametrize("backend", ["bf16", "bf16-autocast"])
def test_models_backend_bf16_close_to_torch(
    tiny: ModelSpec, tmp_path: Path, backend: str, no_network: list[object]
) -> None:
    reference = load_transformers(tiny, cache_dir=tmp_path, backend="torch")
    bf16 = load_transformers(tiny, cache_dir=tmp_path, backend=backend)  # type: ignore[arg-type]
    assert bf16.backend == backend  # type: ignore[attr-defined]
    docs, queries = bf16.encode_documents(TEXTS), bf16.encode_queries(TEXTS)
    assert docs.dtype == np.float32  # cast back before pooling
    np.testing.assert_allclose(np.linalg.norm(docs, axis=1), 1.0, atol=1e-5)
    assert (docs * reference.encode_documents(TEXTS)).sum(axis=1).min() > 0.999
    assert (queries * reference.encode_queries(TEXTS)).sum(axis=1).min() > 0.999


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
    torch_path = load_transformers(tiny, cache_dir=tmp_path, backend="torch")
    onnx = load_transformers(tiny, cache_dir=tmp_path, backend="onnx")
    assert (torch_path.backend, onnx.backend) == ("torch", "onnx")
    onnx._batch_size = 2  # several batches with different shapes through one graph
    np.testing.assert_allclose(onnx.encode_documents(TEXTS), torch_path.encode_documents(TEXTS), atol=1e-5)
    np.testing.assert_allclose(
        onnx.encode_queries(TEXTS[:1]), torch_path.encode_queries(TEXTS[:1]), atol=1e-5
    )
    exports = list((tmp_path / "onnx").iterdir())
    assert len(exports) == 1 and (exports[0] / "model.onnx").is_file()
    assert (exports[0] / "model.onnx.data").is_file()  # weights beside the graph: mapped, not parsed
    mtime = (exports[0] / "model.onnx").stat().st_mtime
    load_transformers(tiny, cache_dir=tmp_path, backend="onnx")  # reuses the export
    assert (exports[0] / "model.onnx").stat().st_mtime == mtime
    assert exports[0] == onnx_dir(tmp_path, Path(tiny.source), f"{tiny.name}-{tiny.revision}")


def test_models_backend_onnx_int8_close_to_torch(
    tiny: ModelSpec, onnx_cache: Path, no_network: list[object]
) -> None:
    tmp_path = onnx_cache
    reference = load_transformers(tiny, cache_dir=tmp_path, backend="torch").encode_documents(TEXTS)
    int8 = load_transformers(tiny, cache_dir=tmp_path, backend="onnx-int8").encode_documents(TEXTS)
    np.testing.assert_allclose(np.linalg.norm(int8, axis=1), 1.0, atol=1e-5)
    assert (int8 * reference).sum(axis=1).min() > 0.98
    (export,) = (tmp_path / "onnx").iterdir()
    assert {"model.onnx", "model.int8.onnx"} <= {p.name for p in export.iterdir()}


def test_models_backend_inline_weights_are_moved_beside_the_graph_once(
    onnx_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An older export (weights inside the graph) is converted on open and answers the same."""
    import onnx

    (export,) = (onnx_cache / "onnx").glob("*/model.onnx")
    inline = tmp_path / "model.onnx"
    onnx.save_model(onnx.load(export), inline)  # loads the external weights, writes them inline
    ids = np.array([[0, 7, 9, 2], [0, 5, 2, 1]], dtype=np.int64)
    mask = np.array([[1, 1, 1, 1], [1, 1, 1, 0]], dtype=np.int64)
    monkeypatch.setattr(embed_backends, "_INLINE_WEIGHTS_BYTES", 0)
    before = inline.stat().st_size
    hidden = embed_backends.OnnxEncoder(inline).run(ids, mask)
    assert (tmp_path / "model.onnx.data").is_file() and inline.stat().st_size < before
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["checksums.json", "model.onnx", "model.onnx.data"]  # no temporaries; the new files' sums
    np.testing.assert_array_equal(embed_backends.OnnxEncoder(export).run(ids, mask), hidden)
    monkeypatch.setattr(embed_backends, "_INLINE_WEIGHTS_BYTES", 1 << 40)
    assert embed_backends.external_weights(inline) == inline  # already converted: left alone


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
        load_transformers(tiny, cache_dir=tmp_path, backend="tensorrt")  # type: ignore[arg-type]
    assert BACKENDS == ("auto", "torch", "bf16", "bf16-autocast", "onnx", "int8", "onnx-int8")


def test_models_backend_auto_measures_once_and_follows_the_plan_per_workload(
    tiny: ModelSpec, onnx_cache: Path, monkeypatch: pytest.MonkeyPatch, no_network: list[object]
) -> None:
    """bf16 runs passages fastest, ONNX single queries (as measured on the issue's CPU)."""
    native_bf16_cpu(monkeypatch)
    plans = fake_timing(monkeypatch, docs={"torch": 1.0, "onnx": 0.8, "bf16": 0.3}, queries={"onnx": 0.005})
    auto = load_transformers(tiny, cache_dir=onnx_cache, planning="now")
    assert auto.backends == ("bf16", "onnx") and auto.backend == "bf16/onnx"  # type: ignore[attr-defined]
    (plan,) = plans
    assert auto.plan.measurements == plan.measurements and auto.plan.key  # type: ignore[union-attr]
    assert plan.measured and auto.plan.key_parts["model"] == "tiny-e5-tiny-1"  # type: ignore[union-attr]
    assert {m.backend for m in plan.measurements} == {"torch", "onnx", "bf16"}
    reference = load_transformers(tiny, cache_dir=onnx_cache, backend="torch")
    assert (auto.encode_documents(TEXTS) * reference.encode_documents(TEXTS)).sum(axis=1).min() > 0.999
    np.testing.assert_allclose(auto.encode_queries(TEXTS), reference.encode_queries(TEXTS), atol=1e-5)
    (record,) = (onnx_cache / "onnx").glob("*/export.json")
    assert json.loads(record.read_text())["max_relative_error"] < 1e-4
    (saved,) = (onnx_cache / "plans").glob("*.json")
    assert json.loads(saved.read_text())["documents"] == "bf16"

    again = load_transformers(tiny, cache_dir=onnx_cache, planning="now")
    assert again.backends == ("bf16", "onnx") and len(plans) == 1  # type: ignore[attr-defined]
    replanned = load_transformers(tiny, cache_dir=onnx_cache, planning="replan")
    assert len(plans) == 2 and replanned.plan.created == plans[1].created  # type: ignore[union-attr]
    shutil.rmtree(onnx_cache / "plans")


def test_models_backend_auto_later_runs_the_provisional_choice_without_timing(
    tiny: ModelSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: list[object]
) -> None:
    plans = fake_timing(monkeypatch, docs={}, queries={})
    native_bf16_cpu(monkeypatch, native=True)
    auto = load_transformers(tiny, cache_dir=tmp_path)  # planning="later" is the library default
    assert auto.backends == ("bf16", "bf16") and not auto.plan.measured  # type: ignore[union-attr]
    assert "provisional" in auto.plan.reason  # type: ignore[union-attr]
    native_bf16_cpu(monkeypatch, native=False)
    assert load_transformers(tiny, cache_dir=tmp_path).backends == ("torch", "torch")  # type: ignore[attr-defined]
    assert plans == [] and not (tmp_path / "plans").exists() and not (tmp_path / "onnx").exists()
    assert planning.plan_missing(tiny, cache_dir=tmp_path, device="cpu")


def test_models_backend_runners_are_built_on_first_use(
    tiny: ModelSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[str] = []
    real = planning.ModelFiles.build

    def counting(self: planning.ModelFiles, backend: str, load_model: object = None) -> object:
        built.append(backend)
        return real(self, backend, load_model)  # type: ignore[arg-type]

    monkeypatch.setattr(planning.ModelFiles, "build", counting)
    embedder = load_transformers(tiny, cache_dir=tmp_path, backend="torch")
    assert built == []  # loading reads the tokenizer and config only
    embedder.encode_queries(["hello"])
    embedder.with_spec(tiny).encode_documents(TEXTS)  # a view shares the built runner  # type: ignore[attr-defined]
    assert built == ["torch"]


def test_models_backend_a_wrong_graph_is_refused(tiny: ModelSpec, onnx_cache: Path, tmp_path: Path) -> None:
    from transformers import AutoModel

    load_transformers(tiny, cache_dir=onnx_cache, backend="onnx")
    (graph,) = (onnx_cache / "onnx").glob("*/model.onnx")
    other = save_tiny_encoder(tmp_path / "other", seed=1)  # same shapes, other weights
    with pytest.raises(OnnxExportError, match="differs from the torch model"):
        verify_export(AutoModel.from_pretrained(other.source), graph)


def test_models_backend_onnx_keeps_left_padding_and_last_token_pooling(
    tmp_path: Path, no_network: list[object]
) -> None:
    """A Qwen3-style decoder through the exported graph: same vectors alone and in a padded batch."""
    pytest.importorskip("onnxscript", reason="torch.onnx's exporter needs onnxscript")
    decoder = save_tiny_decoder(tmp_path / "qwen")
    onnx = load_transformers(decoder, cache_dir=tmp_path, backend="onnx")
    reference = load_transformers(decoder, cache_dir=tmp_path, backend="torch")
    batch = onnx.encode_queries(TEXTS)
    np.testing.assert_allclose(batch, reference.encode_queries(TEXTS), atol=1e-5)
    np.testing.assert_allclose(onnx.encode_queries(TEXTS[1:2])[0], batch[1], atol=1e-5)


def test_models_backend_auto_plans_without_onnx_when_the_export_fails_and_remembers(
    tiny: ModelSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: list[object]
) -> None:
    monkeypatch.setattr(planning, "onnx_available", lambda: True)
    native_bf16_cpu(monkeypatch, native=False)
    plans = fake_timing(monkeypatch, docs={"onnx": 0.1}, queries={"onnx": 0.001})
    calls = []

    def failing_export(model: object, dest: Path) -> Path:
        calls.append(dest)
        raise OnnxExportError("unsupported operator")

    monkeypatch.setattr(embed_backends, "export_onnx", failing_export)
    monkeypatch.setattr(planning, "EXPORT_IN_CHILD", False)  # the replaced exporter runs in this process
    first = load_transformers(tiny, cache_dir=tmp_path, planning="now")
    assert first.backend == "torch"  # type: ignore[attr-defined]
    onnx = plans[0].measurement("onnx")
    assert onnx is not None and onnx.error is not None and "unsupported operator" in onnx.error
    second = load_transformers(tiny, cache_dir=tmp_path, planning="replan")
    assert second.backend == "torch" and len(plans) == 2  # type: ignore[attr-defined]
    assert len(calls) == 1  # the failure is remembered next to the export folder
    with pytest.raises(OnnxExportError, match="failed before"):
        load_transformers(tiny, cache_dir=tmp_path, backend="onnx").encode_queries(["x"])
    np.testing.assert_allclose(first.encode_documents(TEXTS), second.encode_documents(TEXTS), atol=1e-6)


def test_models_backend_onnx_queries_import_no_torch(tiny: ModelSpec, onnx_cache: Path) -> None:
    """A cold search whose plan runs queries on ONNX Runtime must not pay for importing torch."""
    load_transformers(tiny, cache_dir=onnx_cache, backend="onnx").encode_queries(["x"])  # the export, cached
    path, key, parts = planning.ModelFiles(
        Path(tiny.source), planning.model_id(tiny), onnx_cache, "cpu"
    ).plan_file()
    save_plan(path, Plan("torch", "onnx", "test plan", key=key, key_parts=parts))
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from search.models.loading import load_embedder\n"
        f"e = load_embedder({tiny.source!r}, cache_dir=Path({str(onnx_cache)!r}))\n"
        "assert e.backends == ('torch', 'onnx'), e.backends\n"
        "e.encode_queries(['hello world'])\n"
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    try:
        done = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False
        )
    finally:
        path.unlink()
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


def test_models_backend_auto_is_torch_off_the_cpu(tmp_path: Path) -> None:
    loaded = []
    _, name = embed_backends.build_runner(
        "auto",
        lambda: loaded.append(1) or "torch-model",  # type: ignore[arg-type, func-returns-value, return-value]
        model_folder=tmp_path,
        model_id="m",
        cache_dir=tmp_path,
        device="cuda",
    )
    assert name == "torch" and loaded == [1] and not (tmp_path / "onnx").exists()


def test_models_backend_onnx_export_in_a_child_reports_what_failed_there(tmp_path: Path) -> None:
    """The export runs in a child process (its memory is given back when it ends); its error comes back
    as the exception it raised, so a model failure is remembered and a full disk is not."""
    (tmp_path / "empty").mkdir()
    files = planning.ModelFiles(tmp_path / "empty", "empty-local", tmp_path / "cache", "cpu")
    with pytest.raises(OnnxExportError, match="config.json"):  # a model failure (a full disk: OSError)
        files.export_in_child(tmp_path / "cache" / "onnx" / "empty")
    assert not (tmp_path / "cache" / "onnx" / "empty").exists()
