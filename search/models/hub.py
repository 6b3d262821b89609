"""Where a model's files come from: a local folder, the bundled package, or the Hugging Face cache/hub.

Downloads happen only when the caller passes ``allow_downloads=True`` (the
network policy, set once at the entry point); otherwise an uncached model fails
with instructions instead of a download attempt.
"""

from __future__ import annotations

import os
from pathlib import Path

from search.core.errors import ModelNotAvailableError
from search.models.encoders.bundled import ensure_bundled_model
from search.models.specs import BUNDLED_SOURCE, ModelSpec

_HUB_IGNORE = (  # other runtimes' weights: the app exports its own ONNX graph when it uses one
    "*.onnx",
    "*.onnx.data",
    "*.onnx_data",
    "onnx/*",
    "openvino/*",
    "*.h5",
    "*.msgpack",
    "*.ot",
    "*.tflite",
    "*.gguf",
    "coreml/*",
)


def looks_like_hub_id(name: str) -> bool:
    """``org/model``: how a hub repository is named (a local path starts with /, . or ~)."""
    parts = name.split("/")
    return len(parts) == 2 and all(parts) and not name.startswith((".", "~", "/"))


def model_folder(spec: ModelSpec, *, allow_downloads: bool = False, cache_dir: Path | None = None) -> Path:
    """A model's folder from its spec: the bundled model converted once (under the spec's own name and
    revision), else ``resolve_folder``."""
    if spec.source == BUNDLED_SOURCE:
        return ensure_bundled_model(cache_dir, spec)
    return resolve_folder(spec.source, spec.revision, allow_downloads=allow_downloads, cache_dir=cache_dir)


def resolve_folder(
    source: str,
    revision: str | None,
    *,
    allow_downloads: bool = False,
    cache_dir: Path | None = None,
    what: str = "model",
) -> Path:
    """A local folder holding a model: bundled (the catalog's spec; a caller holding a spec passes it
    through ``model_folder``), a local folder, or the HF cache/hub."""
    if source == BUNDLED_SOURCE:
        return ensure_bundled_model(cache_dir)
    local = Path(source).expanduser()
    if local.is_dir():
        return local
    if local.is_absolute() or source.startswith((".", "~")) or not looks_like_hub_id(source):
        raise ModelNotAvailableError(f"{what} folder {source} does not exist")
    return hub_snapshot(source, revision, allow_downloads=allow_downloads)


def _offline_message(repo_id: str, revision: str | None) -> str:
    rev = f" --revision {revision}" if revision else ""
    return (
        f"Model {repo_id!r} is not available offline: it is not in the local Hugging Face cache "
        f"and cannot be downloaded from here. To make it available, on a connected machine run "
        f"`hf download {repo_id}{rev}` and copy the Hugging Face cache (~/.cache/huggingface) to this machine, "
        "or download the model folder, add a model_spec.json to it, and pass the folder path as the model."
    )


def hub_snapshot(repo_id: str, revision: str | None, *, allow_downloads: bool = False) -> Path:
    """The pinned snapshot from the local HF cache, else downloaded where allowed and reachable."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id, revision=revision, local_files_only=True))
    except LocalEntryNotFoundError:
        pass  # not cached: download below where allowed
    if not allow_downloads:
        raise ModelNotAvailableError(_offline_message(repo_id, revision))
    try:
        files = _files_to_download(repo_id, revision)
        return Path(snapshot_download(repo_id, revision=revision, allow_patterns=files))
    except Exception as exc:  # connection, auth or missing-revision failures alike
        raise ModelNotAvailableError(
            f"{_offline_message(repo_id, revision)} (download failed: {exc})"
        ) from exc


def _files_to_download(repo_id: str, revision: str | None) -> list[str]:
    """Skip other frameworks' weights and pickled .bin files that have a safetensors twin."""
    from fnmatch import fnmatch

    from huggingface_hub import HfApi

    files = [
        f
        for f in HfApi().list_repo_files(repo_id, revision=revision)
        if not any(fnmatch(f, p) for p in _HUB_IGNORE)
    ]
    safetensor_dirs = {os.path.dirname(f) for f in files if f.endswith(".safetensors")}
    return [f for f in files if not (f.endswith(".bin") and os.path.dirname(f) in safetensor_dirs)]


def is_available_offline(source: str, revision: str | None) -> bool:
    """Whether a model's files are here: the bundled package, a local folder, or the local HF cache."""
    if source == BUNDLED_SOURCE:
        return True
    local = Path(source).expanduser()
    if local.is_dir():
        return (local / "config.json").is_file() or (local / "modules.json").is_file()
    if not looks_like_hub_id(source):
        return False
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(source, "config.json", revision=revision)
    return isinstance(found, str)
