"""Labeled query sets on disk (BEIR layout) and converters from XQuAD.

A query set folder holds

* ``corpus.jsonl``: ``{"_id", "title", "text", "language"}`` per document,
* ``queries.jsonl``: ``{"_id", "text", "language"}`` per query (extra keys ignored),
* ``qrels.tsv``: a header line, then ``query-id<TAB>corpus-id<TAB>score`` (score > 0 = relevant),
* optionally ``queryset.json`` with a ``name`` and ``description``.

The same layout as BEIR so a query set can be evaluated by other tools too; a
language per query and per document is what the per-language breakdowns need.

XQuAD is 240 paragraphs and 1190 questions translated into 12 languages with
the same question ids, so the paragraph a question was written about is known
in every language. That gives a same-language task (MTEB's XQuADRetrieval) and
cross-lingual tasks (question in one language, paragraphs in others).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from search.core.errors import QuerySetError
from search.core.types import UNDETERMINED, CorpusDoc, Query, QuerySet

CORPUS_FILE = "corpus.jsonl"
QUERIES_FILE = "queries.jsonl"
QRELS_FILE = "qrels.tsv"
INFO_FILE = "queryset.json"
QRELS_HEADER = "query-id\tcorpus-id\tscore"
XQUAD_LANGUAGES = ("ar", "de", "el", "en", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh")


# --------------------------------------------------------------------------------------------
# BEIR folders
# --------------------------------------------------------------------------------------------


def load_queryset(folder: Path | str, name: str | None = None) -> QuerySet:
    """Read a BEIR-style folder; qrels must point at known queries and documents."""
    folder = Path(folder)
    if not folder.is_dir():
        raise QuerySetError(f"not a query set folder: {folder}")
    missing = [f for f in (CORPUS_FILE, QUERIES_FILE, QRELS_FILE) if not (folder / f).is_file()]
    if missing:
        hint = ""
        if CORPUS_FILE in missing and (folder.parent / "build.py").is_file():
            hint = f" (generate it with: python {folder.parent / 'build.py'} --export-corpus)"
        raise QuerySetError(f"{folder}: missing {', '.join(missing)}{hint}")
    info = _read_info(folder / INFO_FILE)
    corpus: dict[str, CorpusDoc] = {}
    for where, record in _jsonl(folder / CORPUS_FILE):
        doc_id = _required_id(record, where)
        if doc_id in corpus:
            raise QuerySetError(f"{where}: duplicate document id {doc_id!r}")
        corpus[doc_id] = CorpusDoc(
            doc_id=doc_id,
            text=str(record.get("text") or ""),
            title=str(record.get("title") or ""),
            language=str(record.get("language") or UNDETERMINED),
        )
    queries: dict[str, Query] = {}
    for where, record in _jsonl(folder / QUERIES_FILE):
        qid = _required_id(record, where)
        if qid in queries:
            raise QuerySetError(f"{where}: duplicate query id {qid!r}")
        text = str(record.get("text") or "").strip()
        if not text:
            raise QuerySetError(f"{where}: query {qid!r} has no text")
        queries[qid] = Query(qid=qid, text=text, language=str(record.get("language") or UNDETERMINED))
    qrels = _read_qrels(folder / QRELS_FILE, queries, corpus)
    return QuerySet(
        name=name or str(info.get("name") or folder.name),
        corpus=corpus,
        queries=queries,
        qrels=qrels,
        description=str(info.get("description") or ""),
        metadata={"folder": folder.resolve().as_posix()},
    )


def save_queryset(qs: QuerySet, folder: Path | str) -> None:
    """Write ``qs`` in the layout ``load_queryset`` reads (qrels with score <= 0 are left out)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    corpus_lines = (
        {"_id": d.doc_id, "title": d.title, "text": d.text, "language": d.language}
        for d in qs.corpus.values()
    )
    query_lines = ({"_id": q.qid, "text": q.text, "language": q.language} for q in qs.queries.values())
    _write_jsonl(folder / CORPUS_FILE, corpus_lines)
    _write_jsonl(folder / QUERIES_FILE, query_lines)
    rows = [QRELS_HEADER]
    for qid, judged in qs.qrels.items():
        for doc_id, score in judged.items():
            if score > 0:
                rows.append(f"{qid}\t{doc_id}\t{int(score)}")
    (folder / QRELS_FILE).write_text("\n".join(rows) + "\n", encoding="utf-8")
    info_path = folder / INFO_FILE
    info = _read_info(info_path) if info_path.is_file() else {}
    info.update({"name": qs.name, "description": qs.description})
    info_path.write_text(json.dumps(info, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def _read_info(path: Path) -> dict[str, object]:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise QuerySetError(f"{path}: not valid JSON ({exc})") from None
    return dict(data) if isinstance(data, dict) else {}


def _jsonl(path: Path) -> Iterator[tuple[str, Mapping[str, object]]]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            where = f"{path.name}:{number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise QuerySetError(f"{where}: not valid JSON ({exc.msg})") from None
            if not isinstance(record, dict):
                raise QuerySetError(f"{where}: expected a JSON object")
            yield where, record


def _required_id(record: Mapping[str, object], where: str) -> str:
    value = record.get("_id")
    if value is None or str(value) == "":
        raise QuerySetError(f'{where}: missing "_id"')
    return str(value)


def _read_qrels(
    path: Path, queries: Mapping[str, Query], corpus: Mapping[str, CorpusDoc]
) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        cells = line.split("\t") if "\t" in line else line.split()
        where = f"{path.name}:{number}"
        if len(cells) != 3:
            raise QuerySetError(f"{where}: expected 'query-id<TAB>corpus-id<TAB>score'")
        qid, doc_id, raw = (c.strip() for c in cells)
        try:
            score = int(float(raw))
        except ValueError:
            if number == 1:  # the header
                continue
            raise QuerySetError(f"{where}: score {raw!r} is not a number") from None
        if qid not in queries:
            raise QuerySetError(f"{where}: unknown query id {qid!r}")
        if doc_id not in corpus:
            raise QuerySetError(f"{where}: document {doc_id!r} is not in {CORPUS_FILE}")
        if score > 0:
            qrels.setdefault(qid, {})[doc_id] = score
    return qrels


def _write_jsonl(path: Path, records: Iterable[Mapping[str, object]]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")


# --------------------------------------------------------------------------------------------
# XQuAD
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class XQuADParagraph:
    pid: str  # "<article>-<paragraph>": the same paragraph in every language
    context: str
    questions: tuple[tuple[str, str], ...]  # (question id, question text); ids shared across languages


def xquad_languages(evaldata: Path | str) -> list[str]:
    folder = Path(evaldata) / "xquad"
    return sorted(p.name.split(".")[1] for p in folder.glob("xquad.*.json"))


def read_xquad(evaldata: Path | str, lang: str) -> list[XQuADParagraph]:
    """One language's paragraphs in file order, stripped like the Hugging Face loader MTEB reads."""
    path = Path(evaldata) / "xquad" / f"xquad.{lang}.json"
    if not path.is_file():
        known = ", ".join(xquad_languages(evaldata)) or "none"
        raise QuerySetError(f"no XQuAD file for {lang!r} at {path} (languages: {known})")
    data = json.loads(path.read_text(encoding="utf-8"))
    paragraphs = []
    for a, article in enumerate(data["data"]):
        for p, paragraph in enumerate(article["paragraphs"]):
            questions = tuple(
                (str(qa["id"]), qa["question"].strip())
                for qa in paragraph["qas"]
                if any(answer.get("text", "").strip() for answer in qa.get("answers", []))
            )
            paragraphs.append(XQuADParagraph(f"{a}-{p}", paragraph["context"].strip(), questions))
    return paragraphs


def xquad_same_language(evaldata: Path | str, lang: str, limit: int | None = None) -> QuerySet:
    """Questions in ``lang`` -> paragraphs in ``lang``, built as MTEB's XQuADRetrieval builds it.

    MTEB (``XQuADRetrieval.load_data``): contexts are deduplicated by text; questions are
    deduplicated by text (the id of the last occurrence names the query) and a repeated
    question is relevant to every paragraph it was asked about. Texts are stripped, as the
    Hugging Face ``xquad`` loader does. ``limit`` keeps the first N paragraphs (smoke runs).
    """
    paragraphs = read_xquad(evaldata, lang)[:limit]
    corpus: dict[str, CorpusDoc] = {}
    doc_of_text: dict[str, str] = {}
    for paragraph in paragraphs:
        if paragraph.context not in doc_of_text:
            doc_id = f"{lang}:{paragraph.pid}"
            doc_of_text[paragraph.context] = doc_id
            corpus[doc_id] = CorpusDoc(doc_id=doc_id, text=paragraph.context, language=lang)
    last_id = {text: qid for paragraph in paragraphs for qid, text in paragraph.questions}
    queries: dict[str, Query] = {}
    qrels: dict[str, dict[str, int]] = {}
    for paragraph in paragraphs:
        for _, text in paragraph.questions:
            qid = f"{lang}:{last_id[text]}"
            queries[qid] = Query(qid=qid, text=text, language=lang)
            qrels.setdefault(qid, {})[doc_of_text[paragraph.context]] = 1
    return QuerySet(
        name=f"xquad-{lang}",
        corpus=corpus,
        queries=queries,
        qrels=qrels,
        description=f"XQuAD {lang} questions -> {lang} paragraphs (MTEB XQuADRetrieval protocol)",
        metadata={"source": "xquad", "protocol": "mteb-xquad-retrieval", "languages": lang},
    )


def xquad_cross_lingual(
    evaldata: Path | str,
    query_langs: Sequence[str],
    doc_langs: Sequence[str],
    target: str | None = None,
    limit: int | None = None,
) -> QuerySet:
    """Questions in each of ``query_langs`` -> one pool of the paragraphs of all ``doc_langs``.

    Relevant: the question's paragraph in every pooled language (a language-agnostic
    task: any translation answers it), or only in ``target`` when given (the other
    translations are then distractors). Questions are deduplicated per language as in
    ``xquad_same_language``; query ids are ``<lang>:<question id>``, doc ids ``<lang>:<paragraph id>``.
    """
    if not query_langs or not doc_langs:
        raise QuerySetError("xquad_cross_lingual needs at least one query language and one document language")
    if target is not None and target not in doc_langs:
        raise QuerySetError(
            f"target language {target!r} is not among the document languages {list(doc_langs)}"
        )
    by_lang = {lang: read_xquad(evaldata, lang)[:limit] for lang in dict.fromkeys([*query_langs, *doc_langs])}
    reference = [p.pid for p in next(iter(by_lang.values()))]
    for lang, paragraphs in by_lang.items():
        if [p.pid for p in paragraphs] != reference:
            raise QuerySetError(f"XQuAD {lang} is not aligned with the other languages")
    corpus = {
        f"{lang}:{p.pid}": CorpusDoc(doc_id=f"{lang}:{p.pid}", text=p.context, language=lang)
        for lang in doc_langs
        for p in by_lang[lang]
    }
    relevant_langs = [target] if target else list(doc_langs)
    queries: dict[str, Query] = {}
    qrels: dict[str, dict[str, int]] = {}
    for lang in query_langs:
        paragraphs = by_lang[lang]
        last_id = {text: qid for p in paragraphs for qid, text in p.questions}
        for paragraph in paragraphs:
            for _, text in paragraph.questions:
                qid = f"{lang}:{last_id[text]}"
                queries[qid] = Query(qid=qid, text=text, language=lang)
                judged = qrels.setdefault(qid, {})
                for doc_lang in relevant_langs:
                    judged[f"{doc_lang}:{paragraph.pid}"] = 1
    pool = ",".join(doc_langs)
    return QuerySet(
        name=f"xquad-x-{'+'.join(query_langs)}-to-{'+'.join(doc_langs)}"
        + (f"-target-{target}" if target else ""),
        corpus=corpus,
        queries=queries,
        qrels=qrels,
        description=(
            f"XQuAD questions in {', '.join(query_langs)} -> pooled paragraphs in {pool}; relevant: "
            + (
                f"the question's paragraph in {target} only"
                if target
                else "the question's paragraph in every language"
            )
        ),
        metadata={"source": "xquad", "query_languages": ",".join(query_langs), "document_languages": pool},
    )


def xquad_r(
    evaldata: Path | str, query_langs: Sequence[str], doc_langs: Sequence[str], limit: int | None = None
) -> QuerySet:
    """XQuAD-R (LAReQA): questions -> one pool of answer *sentences* in all ``doc_langs``.

    Relevant: the sentence that contains the answer, in every pooled language (11 per
    question with all languages). The files carry the sentence splits (``sentences``,
    ``sentence_breaks``); a question's answer sentence is the one whose span holds its
    ``answer_start``. ``limit`` keeps the first N paragraphs.
    """
    folder = Path(evaldata) / "xquad-r"
    data = {lang: _read_xquad_r(folder, lang)[:limit] for lang in dict.fromkeys([*query_langs, *doc_langs])}
    corpus: dict[str, CorpusDoc] = {}
    answer_sentence: dict[tuple[str, str], str] = {}
    for lang in doc_langs:
        for paragraph in data[lang]:
            for s, sentence in enumerate(paragraph.sentences):
                doc_id = f"{lang}:{paragraph.pid}:{s}"
                corpus[doc_id] = CorpusDoc(doc_id=doc_id, text=sentence, language=lang)
            for qid, _, s in paragraph.answers:
                answer_sentence[(lang, qid)] = f"{lang}:{paragraph.pid}:{s}"
    queries: dict[str, Query] = {}
    qrels: dict[str, dict[str, int]] = {}
    for lang in query_langs:
        for paragraph in data[lang]:
            for qid, text, _ in paragraph.answers:
                key = f"{lang}:{qid}"
                queries[key] = Query(qid=key, text=text, language=lang)
                qrels[key] = {answer_sentence[(d, qid)]: 1 for d in doc_langs if (d, qid) in answer_sentence}
    return QuerySet(
        name=f"xquad-r-{'+'.join(query_langs)}-to-{'+'.join(doc_langs)}",
        corpus=corpus,
        queries=queries,
        qrels=qrels,
        description="XQuAD-R (LAReQA): questions -> pooled answer sentences; relevant = answer sentence in each language",
        metadata={
            "source": "xquad-r",
            "query_languages": ",".join(query_langs),
            "document_languages": ",".join(doc_langs),
        },
    )


@dataclass(frozen=True)
class XQuADRParagraph:
    pid: str
    sentences: tuple[str, ...]
    answers: tuple[tuple[str, str, int], ...]  # (question id, question, index of the answer sentence)


def _read_xquad_r(folder: Path, lang: str) -> list[XQuADRParagraph]:
    path = folder / f"{lang}.json"
    if not path.is_file():
        raise QuerySetError(f"no XQuAD-R file for {lang!r} at {path}")
    out: list[XQuADRParagraph] = []
    for a, article in enumerate(json.loads(path.read_text(encoding="utf-8"))["data"]):
        for p, paragraph in enumerate(article["paragraphs"]):
            breaks = paragraph["sentence_breaks"]
            answers = []
            for qa in paragraph["qas"]:
                start = qa["answers"][0]["answer_start"]
                index = next((i for i, (lo, hi) in enumerate(breaks) if lo <= start <= hi), len(breaks) - 1)
                answers.append((str(qa["id"]), qa["question"].strip(), index))
            sentences = tuple(s.strip() for s in paragraph["sentences"])
            out.append(XQuADRParagraph(f"{a}-{p}", sentences, tuple(answers)))
    return out
