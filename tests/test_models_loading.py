"""Where models come from: registry names, local folders, the HF cache, and the offline error."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from search.core.errors import ModelNotAvailableError, UnknownModelError
from search.models.hub import resolve_folder
from search.models.loading import load_embedder
from search.models.registry import ModelRegistry
from tests.tiny_models import save_tiny_cross_encoder, save_tiny_encoder


def test_models_unknown_name_lists_known_models() -> None:
    with pytest.raises(UnknownModelError) as info:
        load_embedder("no-such-model", backend="torch")
    message = str(info.value)
    assert "no-such-model" in message
    for name in ModelRegistry().names():
        assert name in message


def test_models_local_folder_with_spec_loads(tmp_path: Path, no_network: list[object]) -> None:
    save_tiny_encoder(tmp_path / "mine", name="my-finetune")
    registry = ModelRegistry()
    embedder = load_embedder(str(tmp_path / "mine"), registry=registry, backend="torch")
    assert embedder.spec.name == "my-finetune"
    assert embedder.spec.source == str((tmp_path / "mine").resolve())
    assert embedder.encode_queries(["hello"]).shape == (1, 32)
    assert "my-finetune" in registry.names()  # now usable by name too
    assert (
        load_embedder("my-finetune", registry=registry, backend="torch").spec.source == embedder.spec.source
    )


def test_models_local_load_never_touches_network(tmp_path: Path, no_network: list[object]) -> None:
    spec = save_tiny_encoder(tmp_path / "m")
    load_embedder(spec, backend="torch").encode_documents(["hello world"])
    assert no_network == []


def test_models_missing_local_folder_is_a_clear_error(tmp_path: Path) -> None:
    spec = save_tiny_encoder(tmp_path / "m")
    with pytest.raises(ModelNotAvailableError, match="does not exist"):
        resolve_folder(str(tmp_path / "gone"), spec.revision)


def test_models_hub_model_offline_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: list[object]
) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-hf-cache"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ModelNotAvailableError) as info:
        load_embedder("intfloat/multilingual-e5-base", backend="torch")
    message = str(info.value)
    assert "not available offline" in message
    assert "hf download intfloat/multilingual-e5-base --revision d13f1b27" in message
    assert "local folder" in message or "folder path" in message


def test_models_hub_model_found_in_local_cache_without_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: list[object]
) -> None:
    """A pinned snapshot already in the HF cache loads with the network off."""
    from huggingface_hub import constants

    revision = "0123456789abcdef0123456789abcdef01234567"
    cache = tmp_path / "hf"
    snapshot = cache / "models--someone--tiny" / "snapshots" / revision
    save_tiny_encoder(snapshot, name="someone/tiny")
    (cache / "models--someone--tiny" / "refs").mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    spec = replace(ModelRegistry().get(str(snapshot)), source="someone/tiny", revision=revision)
    assert resolve_folder(spec.source, spec.revision) == snapshot
    assert load_embedder(spec, backend="torch").encode_queries(["hello"]).shape == (1, 32)


def test_models_tiny_cross_encoder_builder_loads(tmp_path: Path, no_network: list[object]) -> None:
    """The reusable tiny cross-encoder: one relevance logit per (query, passage) pair."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    folder = save_tiny_cross_encoder(tmp_path / "ce")
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(folder, local_files_only=True).eval()
    pairs = tokenizer(["hello", "the cat"], ["hello world", "a dog"], padding=True, return_tensors="pt")
    assert pairs["input_ids"][0, 0].item() == 0  # <s> query </s></s> passage </s>
    with torch.inference_mode():
        assert model(**pairs).logits.shape == (2, 1)


class _RunsCode:
    """What a malicious checkpoint carries: unpickling it would call os.system."""

    def __reduce__(self) -> tuple[object, tuple[str]]:
        import os

        return (os.system, ("echo pwned > pwned.txt",))


def _pickled_model(folder: Path) -> Path:
    """A tiny encoder folder whose weights are a pickle carrying code instead of model.safetensors."""
    import pickle

    save_tiny_encoder(folder)
    (folder / "model.safetensors").unlink()
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps({"weights": _RunsCode()}))
    return folder


@pytest.mark.parametrize("backend", ["torch", "auto"])
def test_models_a_pickle_that_could_run_code_is_refused_in_one_line(
    tmp_path: Path, backend: str, monkeypatch: pytest.MonkeyPatch, no_network: list[object]
) -> None:
    from search.core.errors import UnsafeModelFileError

    folder = _pickled_model(tmp_path / "pickled")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UnsafeModelFileError, match="pickle") as info:
        load_embedder(str(folder), backend=backend, cache_dir=tmp_path / "cache")  # type: ignore[arg-type]
    assert "\n" not in str(info.value) and str(folder) in str(info.value)
    assert not (tmp_path / "pwned.txt").exists()
    assert not list((tmp_path / "cache").glob("onnx/*.failed*"))  # not remembered as an ONNX failure


def test_models_a_pickled_model_folder_is_one_error_line_at_the_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import app

    folder = _pickled_model(tmp_path / "pickled")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("Honeybees in winter.", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    common = ["--data-dir", str(tmp_path / "data"), "--cache-dir", str(tmp_path / "cache")]
    capsys.readouterr()  # saving the tiny model printed a progress bar
    code = app.main([*common, "index", str(tmp_path / "docs"), "--model", str(folder)])
    err = capsys.readouterr().err
    assert code == app.EXIT_USER_ERROR
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert "safetensors" in err and not (tmp_path / "pwned.txt").exists()
