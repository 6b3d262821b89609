"""Shared fixtures: a network guard and deterministic fakes."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

# Before anything imports unstructured, gradio or huggingface_hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("UNSTRUCTURED_DISABLE_NOTICE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from tests.fakes import FakeEmbedder


class NetworkAttempt(AssertionError):
    """Raised when code under test tries to reach anything but loopback."""


def _is_loopback(address: object) -> bool:
    if isinstance(address, tuple) and address:
        host = str(address[0])
        if host in {"localhost", ""}:
            return True
        try:
            return ipaddress.ip_address(host.split("%")[0]).is_loopback
        except ValueError:
            return False
    return isinstance(address, (str, bytes))  # AF_UNIX paths are local


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Fail the test on any socket connection (or DNS lookup) to a non-loopback address."""
    attempts: list[object] = []
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo

    def guarded_connect(self: socket.socket, address: object) -> None:
        if not _is_loopback(address):
            attempts.append(address)
            raise NetworkAttempt(f"network access attempted: {address!r}")
        return real_connect(self, address)  # type: ignore[arg-type]

    def guarded_connect_ex(self: socket.socket, address: object) -> int:
        if not _is_loopback(address):
            attempts.append(address)
            raise NetworkAttempt(f"network access attempted: {address!r}")
        return real_connect_ex(self, address)  # type: ignore[arg-type]

    def guarded_getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
        if host not in (None, "localhost", "127.0.0.1", "::1") and not _is_loopback((host,)):
            attempts.append(host)
            raise NetworkAttempt(f"DNS lookup attempted: {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    yield attempts
    assert not attempts, f"network access attempted: {attempts}"


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture(scope="session")
def model_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One model cache per test session: the bundled default model is converted into it once."""
    return tmp_path_factory.mktemp("model-cache")


@pytest.fixture(scope="session", autouse=True)
def private_app_dirs(model_cache_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """No test reads or writes the user's own cache and data folders (models, ONNX exports,
    embedding cache, index): code that falls back to the defaults lands in the session's folders."""
    patch = pytest.MonkeyPatch()
    patch.setenv("MLSEARCH_CACHE", str(model_cache_dir))
    patch.setenv("MLSEARCH_DATA", str(tmp_path_factory.mktemp("data-home")))
    yield
    patch.undo()


@pytest.fixture
def bundled_model_cache(model_cache_dir: Path, no_network: list[object]) -> Path:
    """``model_cache_dir`` with the default model converted; the conversion (first use) is network-guarded."""
    from search.models.encoders.bundled import ensure_bundled_model

    ensure_bundled_model(model_cache_dir)
    return model_cache_dir
