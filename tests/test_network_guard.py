"""No network at run time: the CLI's whole must-show path with the real model, under a socket guard.

One fresh Python process installs the guard before importing the app, then runs
each CLI command it is sent (``app.main(argv)``, the entry point of ``python
app.py``): index, German searches, a re-index, an edit and its re-index, a
hybrid search. A fresh process means import-time side effects (telemetry pings
of unstructured and friends) are seen too; the offline variables are removed
from its environment, so it is the app that must switch them on. The corpus has
every format, unstructured's (DOCX, PPTX, EPUB, HTML, Markdown, text)
included, since that library is the likeliest to phone home. The bundled model
conversion (first use) runs under the in-process ``no_network`` guard.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.test_cli import EDITED, must_show

REPO = Path(__file__).resolve().parents[1]
DOCUMENTS = REPO / "sample_corpora" / "documents"
# 11 documents in all seven formats; the German queries' relevant en/ar documents are among them.
SUBSET = (
    "vaccines",
    "moon",
    EDITED,
    "printing/en-incunabula.epub",
    "coral-reefs/fr-blanchissement-coraux.pptx",
)
QUERIES = ("q076", "q085")  # vaccines (en relevant), Apollo 11 (ar relevant)
OFFLINE_VARIABLES = (
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "DO_NOT_TRACK",
    "UNSTRUCTURED_DISABLE_NOTICE",
    "GRADIO_ANALYTICS_ENABLED",
    "SCARF_NO_ANALYTICS",
    "HF_HUB_DISABLE_TELEMETRY",
    "HF_DATASETS_OFFLINE",
)
MARK = "@@RESULT "

GUARDED_APP = textwrap.dedent(
    """
    import io, json, socket, sys
    from contextlib import redirect_stderr, redirect_stdout
    from tests.conftest import _is_loopback

    attempts = []
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_getaddrinfo, real_gethostbyname = socket.getaddrinfo, socket.gethostbyname

    def refuse(what):
        attempts.append(repr(what))
        raise OSError(f"network access attempted: {what!r}")

    def connect(self, address):
        return real_connect(self, address) if _is_loopback(address) else refuse(address)

    def connect_ex(self, address):
        return real_connect_ex(self, address) if _is_loopback(address) else refuse(address)

    def getaddrinfo(host, *args, **kwargs):
        if host in (None, "localhost", "127.0.0.1", "::1") or _is_loopback((host,)):
            return real_getaddrinfo(host, *args, **kwargs)
        return refuse(host)

    def gethostbyname(host):
        return real_gethostbyname(host) if host in ("localhost", "127.0.0.1") else refuse(host)

    socket.socket.connect, socket.socket.connect_ex = connect, connect_ex
    socket.getaddrinfo, socket.gethostbyname = getaddrinfo, gethostbyname

    try:  # the guard works: a deliberate connection to TEST-NET-1 is refused and recorded
        socket.create_connection(("192.0.2.1", 9), timeout=1)
    except OSError:
        pass
    self_test, attempts[:] = list(attempts), []

    import app  # only now: whatever it imports is imported under the guard

    protocol = sys.stdout
    protocol.write(MARK + json.dumps({"ready": True, "self_test": self_test}) + "\\n")
    protocol.flush()
    for line in sys.stdin:
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            try:
                code = app.main(json.loads(line))
            except BaseException as exc:
                code, _ = 99, err.write(f"{type(exc).__name__}: {exc}")
        result = {"code": code, "out": out.getvalue(), "err": err.getvalue()[-3000:], "attempts": attempts}
        protocol.write(MARK + json.dumps(result) + "\\n")
        protocol.flush()
    """
).replace("MARK", repr(MARK))


class GuardedApp:
    """``python app.py ARGS`` for each call, all in one guarded process (imports paid once)."""

    def __init__(self, common: list[str], env: dict[str, str]) -> None:
        self.common = common
        self.proc = subprocess.Popen(
            [sys.executable, "-c", GUARDED_APP],
            cwd=REPO,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        hello = self._receive()
        self.self_test: list[str] = hello["self_test"]
        self.attempts: list[str] = []

    def _receive(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith(MARK):
                return json.loads(line[len(MARK) :])  # type: ignore[no-any-return]
        raise AssertionError(
            f"the guarded app died: {self.proc.stderr.read()[-3000:] if self.proc.stderr else ''}"
        )

    def __call__(self, *argv: str) -> str:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps([*self.common, *argv]) + "\n")
        self.proc.stdin.flush()
        result = self._receive()
        self.attempts = result["attempts"]
        assert not self.attempts, f"network access attempted during {argv}: {self.attempts}"
        assert result["code"] == 0, (argv, result["err"])
        return str(result["out"])

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=60)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()


@pytest.mark.model
def test_cli_must_show_runs_without_any_network_call(bundled_model_cache: Path, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    for name in SUBSET:
        source, target = DOCUMENTS / name, corpus / name
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, target)
    formats = {path.suffix for path in corpus.rglob("*.*")}
    assert formats == {".pdf", ".docx", ".pptx", ".epub", ".md", ".txt", ".html", ".tiff"}  # a scan: OCR

    env = {k: v for k, v in os.environ.items() if k not in OFFLINE_VARIABLES}
    env["PYTHONPATH"] = str(REPO)
    app = GuardedApp(["--data-dir", str(tmp_path / "data"), "--cache-dir", str(bundled_model_cache)], env)
    try:
        assert any("192.0.2.1" in attempt for attempt in app.self_test), "the guard caught nothing"
        must_show(app, corpus, QUERIES, files=sum(1 for _ in corpus.rglob("*.*")))
        hybrid = json.loads(
            app("search", "Wer erfand den Buchdruck?", "--json", "-k", "3", "--mode", "hybrid")
        )
        assert any(hit["source"] == "printing/en-incunabula.epub" for hit in hybrid["hits"]), hybrid["hits"]
        assert app.attempts == []
    finally:
        app.close()
