"""What the web server serves, and to whom (issue 21, items 1, 3, 4 and 10), against the real server.

Gradio's file route serves nothing of the document folders any more: not the indexed files, not
``.env`` or hidden files, not files ``.mlsearchignore`` leaves out, not the ignore file itself.
A result's source is served by the app's route (``documents/<collection>/<chunk id>``, no server
path in it) after every check, with headers that keep documents out of the app's origin. Requests
addressed to another host name, or sent by a page of another site, are refused.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import search.application.documents as documents
from search.application.documents import SANDBOX_POLICY, document_link
from search.application.search_app import SearchApp
from search.application.searching import make_request
from search.stores.base import Point
from search.stores.payload import Field
from tests.ui_harness import FAKE_MODEL, free_port, make_app
from ui.app import build_app, serve
from ui.server import served_names

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sample_corpora" / "documents"
SECRETS = {
    ".env": "AWS_SECRET=hunter2",
    ".secret/id_rsa": "-----BEGIN PRIVATE KEY-----",
    "private/credentials.key": "password=swordfish",
    "build/ignored.txt": "ignored honeybee notes",
    ".mlsearchignore": "build/",
}


@dataclass
class Served:
    app: SearchApp
    url: str
    root: Path
    outside: Path
    close: object

    def link(self, query: str, name: str) -> str:
        """The link of the first result of ``query`` whose source is ``name``."""
        request = make_request(query, self.app.collection_for(None), (), 20, "dense", None, "off")
        for hit in self.app.search(request).result.hits:
            if hit.relpath == name:
                return document_link(self.app.collection_for(None), hit.chunk_id, hit.page)
        raise AssertionError(f"{name} not found for {query!r}")


def fetch(
    url: str, headers: dict[str, str] | None = None, method: str = "GET", data: bytes | None = None
) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers=headers or {}, method=method, data=data)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("route")
    root = tmp / "root"
    (root / "docs").mkdir(parents=True)
    for rel, text in SECRETS.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    (root / "docs" / "bees.txt").write_text("Honeybees and the varroa mite in winter.", encoding="utf-8")
    (root / "docs" / "legacy.txt").write_bytes("Café crème et thé glacé, été français.".encode("cp1252"))
    (root / "docs" / "page.html").write_text(
        "<html><body><p>Beehive page with a script</p><script>document.cookie='x=1'</script></body></html>",
        encoding="utf-8",
    )
    (root / "docs" / "drawing.svg").write_text("<svg><script>alert(1)</script></svg>", encoding="utf-8")
    shutil.copy(SAMPLE / "bees" / "en-honeybees-varroa.pdf", root / "docs" / "varroa.pdf")
    shutil.copy(SAMPLE / "bees" / "de-wildbienen-insektensterben.docx", root / "docs" / "wildbienen.docx")
    outside = tmp / "outside.txt"
    outside.write_text("OUTSIDE-SECRET", encoding="utf-8")
    app = make_app(tmp, allowed_roots=(root,))
    app.index_folder(root, FAKE_MODEL)
    demo = build_app(app)
    url = serve(demo, app, port=free_port(), block=False)

    def close() -> None:
        demo.close()
        app.close()

    yield Served(app, url, root, outside, close)
    close()


def test_gradio_serves_no_file_of_the_document_folders(served: Served) -> None:
    for rel in [*SECRETS, "docs/bees.txt", "docs/varroa.pdf", "docs/drawing.svg"]:
        status, _, body = fetch(f"{served.url}gradio_api/file={served.root / rel}")
        assert status in (403, 404), (rel, status, body[:40])
    for path in (REPO / "pyproject.toml", REPO / "app.py", served.outside, Path("/etc/passwd")):
        status, _, _ = fetch(f"{served.url}gradio_api/file={path}")  # not the working folder either
        assert status in (403, 404), path


def test_a_result_opens_its_source_with_headers_that_keep_it_out_of_the_app(served: Served) -> None:
    link = served.link("varroa mite winter honeybees", "docs/bees.txt")
    assert link.startswith("documents/") and str(served.root) not in link and "bees" not in link
    status, headers, body = fetch(served.url + link)
    assert status == 200 and body == b"Honeybees and the varroa mite in winter."
    assert headers["content-type"] == "text/plain; charset=utf-8"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["content-security-policy"] == SANDBOX_POLICY
    assert headers["content-security-policy"].startswith("sandbox;") and "allow-" not in SANDBOX_POLICY
    assert (
        headers["content-disposition"].startswith("inline;") and "bees.txt" in headers["content-disposition"]
    )
    expected = {
        ("Beehive page script", "docs/page.html"): ("text/html; charset=utf-8", "inline"),
        ("Café crème thé glacé", "docs/legacy.txt"): ("text/plain; charset=cp1252", "inline"),
        ("Varroa mite field report", "docs/varroa.pdf"): ("application/pdf", "inline"),
        ("Wildbienen Insektensterben", "docs/wildbienen.docx"): (
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "attachment",
        ),
    }
    for (query, name), (content_type, disposition) in expected.items():
        link = served.link(query, name)
        status, headers, body = fetch(served.url + link.split("#")[0])
        assert status == 200, (name, body[:200])
        assert headers["content-type"] == content_type, name
        assert headers["content-disposition"].split(";")[0] == disposition, name
        assert (
            headers["content-security-policy"] == SANDBOX_POLICY
            and headers["x-content-type-options"] == "nosniff"
        )
        assert body == (served.root / name).read_bytes()
    pdf = served.link("Varroa mite field report", "docs/varroa.pdf")
    assert "#page=" in pdf  # a hit on page N opens there


def test_nothing_but_an_indexed_source_below_the_served_folders_is_served(
    served: Served, tmp_path: Path
) -> None:
    collection = served.app.collection_for(None)
    unknown = f"{served.url}documents/{collection}/{uuid.uuid4()}"
    for url in (
        unknown,
        f"{served.url}documents/{collection}/not-a-uuid",
        f"{served.url}documents/nope/{uuid.uuid4()}",
    ):
        assert fetch(url)[0] == 404, url
    # Chunks the store holds whose sources must not be served: outside the served folders, hidden,
    # of a format never indexed (as a later version or another tool might have written them).
    sources = {
        "outside": served.outside,
        "hidden": served.root / ".secret" / "id_rsa.txt",
        "svg": served.root / "docs" / "drawing.svg",
    }
    (served.root / ".secret" / "id_rsa.txt").write_text("hidden key", encoding="utf-8")
    ids = {what: str(uuid.uuid4()) for what in sources}
    vector = np.ones(64, dtype=np.float32) / 8
    store = served.app.services.store
    store.upsert(
        collection,
        [
            Point(
                ids[what],
                vector,
                {Field.SOURCE: str(path), Field.ROOT: str(served.root), Field.TEXT: "x", Field.DOC_HASH: "-"},
            )
            for what, path in sources.items()
        ],
    )
    try:
        for what in sources:
            status, headers, body = fetch(f"{served.url}documents/{collection}/{ids[what]}")
            assert status == 403, (what, status, body)
            assert b"SECRET" not in body and b"key" not in body and str(served.root).encode() not in body
            assert headers["x-content-type-options"] == "nosniff"
    finally:
        store.delete_ids(collection, list(ids.values()))


def test_a_changed_or_swapped_source_is_not_served(served: Served) -> None:
    link = served.link("varroa mite winter honeybees", "docs/bees.txt")
    source = served.root / "docs" / "bees.txt"
    original = source.read_bytes()
    try:
        source.write_text("Honeybees, edited since indexing.", encoding="utf-8")
        assert fetch(served.url + link)[0] == 409  # not the bytes that were indexed
        source.unlink()
        os.link(served.outside, source)  # a hard link to another file: inside by name, not the same bytes
        assert fetch(served.url + link)[0] == 409
        source.unlink()
        os.symlink(served.outside, source)
        status, _, body = fetch(served.url + link)
        assert status == 403 and b"OUTSIDE" not in body
        source.unlink()
        assert fetch(served.url + link)[0] == 404
    finally:
        source.unlink(missing_ok=True)
        source.write_bytes(original)
    assert fetch(served.url + link)[0] == 200


def test_the_file_is_opened_once_and_checked_by_descriptor(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deterministic swaps around the route's one open: before it, the link is refused; after it, the
    file opened (the indexed one) is what is sent."""
    link = served.link("varroa mite winter honeybees", "docs/bees.txt")
    source = served.root / "docs" / "bees.txt"
    original = source.read_bytes()
    real_open = os.open

    def swap() -> None:
        tmp_link = source.with_name(".swap")
        os.symlink(served.outside, tmp_link)
        os.replace(tmp_link, source)

    def swapping_open(when: str) -> object:
        def opener(path: object, flags: int, *args: object) -> int:
            if str(path).endswith("bees.txt") and when == "before":
                swap()
            fd = real_open(path, flags, *args)  # type: ignore[arg-type]
            if str(path).endswith("bees.txt") and when == "after":
                swap()
            return fd

        return opener

    try:
        for when, expected in (("before", 403), ("after", 200)):
            source.unlink(missing_ok=True)
            source.write_bytes(original)
            monkeypatch.setattr(documents.os, "open", swapping_open(when))
            status, _, body = fetch(served.url + link)
            monkeypatch.setattr(documents.os, "open", real_open)
            assert status == expected, when
            assert b"OUTSIDE" not in body
            if expected == 200:
                assert body == original
    finally:
        source.unlink(missing_ok=True)
        source.write_bytes(original)


def test_flipping_a_source_between_a_file_and_a_link_out_never_leaks(served: Served) -> None:
    link = served.link("varroa mite winter honeybees", "docs/bees.txt")
    source = served.root / "docs" / "bees.txt"
    original = source.read_bytes()
    stop = threading.Event()

    def flip() -> None:
        while not stop.is_set():
            tmp_link, tmp_file = source.with_name(".l"), source.with_name(".f")
            tmp_link.unlink(missing_ok=True)
            os.symlink(served.outside, tmp_link)
            os.replace(tmp_link, source)
            tmp_file.write_bytes(original)
            os.replace(tmp_file, source)

    thread = threading.Thread(target=flip)
    thread.start()
    try:
        answers = [fetch(served.url + link) for _ in range(150)]
    finally:
        stop.set()
        thread.join()
        source.write_bytes(original)
    assert all(b"OUTSIDE" not in body for _, _, body in answers)
    assert {status for status, _, _ in answers} <= {200, 403, 404, 409}
    assert all(body == original for status, _, body in answers if status == 200)


def test_requests_to_another_host_or_from_another_site_are_refused(served: Served) -> None:
    port = served.url.rstrip("/").rsplit(":", 1)[1]
    # the Search endpoint's ten inputs (ui/tabs_search.py): a short list is accepted, then fails in the queue
    body = json.dumps(
        {"data": ["varroa", None, [], 5, "dense", None, "off", "auto", "as recorded", ""]}
    ).encode()
    call = f"{served.url}gradio_api/call/search"
    json_type = {"Content-Type": "application/json"}
    for headers in (
        {"Host": "evil.example"},
        {"Host": f"evil.example:{port}"},
        {"Host": f"127.0.0.1.evil.example:{port}"},
        {"Origin": "http://evil.example"},
        {"Origin": f"http://evil.example:{port}"},
        {"Origin": "null"},
    ):
        status, _, answer = fetch(call, {**json_type, **headers}, "POST", body)
        assert status == 403, (headers, status, answer[:80])
        assert fetch(served.url, headers)[0] == 403, headers  # the page itself too (DNS rebinding)
    for headers in ({}, {"Host": f"localhost:{port}"}, {"Origin": f"http://127.0.0.1:{port}"}):
        status, _, answer = fetch(call, {**json_type, **headers}, "POST", body)
        assert status == 200 and b"event_id" in answer, (headers, status)


def test_the_names_a_server_answers_to() -> None:
    assert served_names("127.0.0.1", 7860) == {"127.0.0.1:7860", "localhost:7860", "[::1]:7860"}
    assert "myhost.lan:8000" in served_names("myhost.lan", 8000)
    everywhere = served_names("0.0.0.0", 7860)
    assert f"{socket.gethostname().lower()}:7860" in everywhere and "0.0.0.0:7860" not in everywhere


def test_a_port_in_use_is_one_line_naming_another_port(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "tests.fake_cli",
                "--data-dir",
                str(tmp_path / "d"),
                "--cache-dir",
                str(tmp_path / "c"),
                "serve",
                "--port",
                str(port),
                "--no-sample",
            ],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 2, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: port {port} is in use"), result.stderr
    suggested = int(lines[0].rsplit("--port ", 1)[1])
    assert suggested != port and suggested > 0


def test_a_source_swapped_while_its_path_is_resolved_is_changing_not_a_bug(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """realpath's readlink says EINVAL when a link became a file in between (seen under load)."""
    link = served.link("varroa mite winter honeybees", "docs/bees.txt")
    real_realpath = documents.os.path.realpath

    def swapped(path: object, *args: object, **kwargs: object) -> str:
        if str(path).endswith("bees.txt"):
            raise OSError(22, "Invalid argument", str(path))
        return real_realpath(path, *args, **kwargs)  # type: ignore[call-overload,no-any-return]

    monkeypatch.setattr(documents.os.path, "realpath", swapped)
    status, _, body = fetch(served.url + link)
    monkeypatch.setattr(documents.os.path, "realpath", real_realpath)
    assert status == 409
    assert b"changing" in body
