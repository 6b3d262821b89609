"""EPUB -> sections: container.xml -> OPF spine -> XHTML chapters -> the streaming HTML parser.

unstructured's own partition_epub shells out to pandoc, which the offline
install does not have; an EPUB is just a zip of XHTML files in reading order.
"""

from __future__ import annotations

import posixpath
import zipfile
from pathlib import Path
from urllib.parse import unquote

from lxml import etree

from indexer.extract.decode import decode_text
from indexer.extract.formats import Extracted, ExtractionError, LoaderConfig, describe
from indexer.extract.htmlstream import html_sections
from indexer.extract.textnorm import normalize_text
from indexer.extract.zipguard import check_zip
from search.core.types import Section

_NS = {
    "c": "urn:oasis:names:tc:opendocument:xmlns:container",
    "opf": "http://www.idpf.org/2007/opf",
    "dc": "http://purl.org/dc/elements/1.1/",
}
_XHTML_TYPES = frozenset({"application/xhtml+xml", "text/html", "application/xml", "text/xml"})


def _xml(data: bytes) -> etree._Element:
    """Parse package XML without DTDs, entities or network: EPUBs come from anywhere."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    return etree.fromstring(data, parser=parser)


def extract_epub(path: Path, config: LoaderConfig) -> Extracted:
    check_zip(path, "epub", config)
    try:
        with zipfile.ZipFile(path) as archive:
            opf_path = _rootfile(archive)
            opf = _xml(archive.read(opf_path))
            chapters = _spine(opf, posixpath.dirname(opf_path))
            title = normalize_text(" ".join(opf.xpath("//dc:title//text()", namespaces=_NS)))
            sections: list[Section] = []
            for name in chapters:
                try:
                    data = archive.read(name)
                except KeyError:
                    continue  # a spine entry without a file: skip the chapter, keep the book
                try:
                    sections.extend(html_sections(decode_text(data, html=True)))
                except ExtractionError as exc:
                    if not str(exc).startswith(("empty", "no text")):
                        raise  # an empty chapter (cover, blank page) is normal; a broken one is not
    except ExtractionError:
        raise
    except (KeyError, etree.XMLSyntaxError, zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ExtractionError(f"corrupt EPUB ({describe(exc)})") from None
    if not sections:
        raise ExtractionError("no text found")
    if not title:
        title = next((s.text for s in sections if s.kind == "title"), "")
    return Extracted(tuple(sections), title)


def _rootfile(archive: zipfile.ZipFile) -> str:
    container = _xml(archive.read("META-INF/container.xml"))
    paths = container.xpath("//c:rootfile/@full-path", namespaces=_NS)
    if paths:
        return str(paths[0])
    fallback = [n for n in archive.namelist() if n.lower().endswith(".opf")]
    if not fallback:
        raise ExtractionError("corrupt EPUB (no package document)")
    return fallback[0]


def _spine(opf: etree._Element, base: str) -> list[str]:
    """Archive names of the content documents in reading order (navigation document left out)."""
    manifest = {}
    for item in opf.xpath("//opf:manifest/opf:item", namespaces=_NS):
        props = (item.get("properties") or "").split()
        if item.get("media-type") in _XHTML_TYPES and "nav" not in props and item.get("href"):
            href = unquote(item.get("href").split("#", 1)[0])
            manifest[item.get("id")] = posixpath.normpath(posixpath.join(base, href))
    ordered = [
        manifest[ref]
        for ref in opf.xpath("//opf:spine/opf:itemref/@idref", namespaces=_NS)
        if ref in manifest
    ]
    return list(dict.fromkeys(ordered))
