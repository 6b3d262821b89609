"""Query sets built from XQuAD and XQuAD-R (../shared/evaldata), for benchmarks and slow tests.

XQuAD is 240 paragraphs and 1190 questions translated into 12 languages with
the same question ids, so the paragraph a question was written about is known
in every language. That gives a same-language task (MTEB's XQuADRetrieval) and
cross-lingual tasks (question in one language, paragraphs in others).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from search.core.errors import QuerySetError
from search.core.types import CorpusDoc, Query, QuerySet

XQUAD_LANGUAGES = ("ar", "de", "el", "en", "es", "hi", "ro", "ru", "th", "tr", "vi", "zh")
# The 48 articles' first 24 (paragraphs 0-119, 632 questions) and last 24 (120-239, 558): a development
# and a test half for constants tuned on XQuAD (pass as ``limit``).
DEV_HALF = slice(0, 120)
TEST_HALF = slice(120, None)
T = TypeVar("T")


def _cut(items: list[T], limit: int | slice | None) -> list[T]:
    """The first ``limit`` items, or the ``limit`` slice of them."""
    return items[limit] if isinstance(limit, slice) else items[:limit]


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


def xquad_same_language(evaldata: Path | str, lang: str, limit: int | slice | None = None) -> QuerySet:
    """Questions in ``lang`` -> paragraphs in ``lang``, built as MTEB's XQuADRetrieval builds it.

    MTEB (``XQuADRetrieval.load_data``): contexts are deduplicated by text; questions are
    deduplicated by text (the id of the last occurrence names the query) and a repeated
    question is relevant to every paragraph it was asked about. Texts are stripped, as the
    Hugging Face ``xquad`` loader does. ``limit`` keeps the first N paragraphs (smoke runs).
    """
    paragraphs = _cut(read_xquad(evaldata, lang), limit)
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
    limit: int | slice | None = None,
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
    by_lang = {
        lang: _cut(read_xquad(evaldata, lang), limit) for lang in dict.fromkeys([*query_langs, *doc_langs])
    }
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
    evaldata: Path | str,
    query_langs: Sequence[str],
    doc_langs: Sequence[str],
    limit: int | slice | None = None,
) -> QuerySet:
    """XQuAD-R (LAReQA): questions -> one pool of answer *sentences* in all ``doc_langs``.

    Relevant: the sentence that contains the answer, in every pooled language (11 per
    question with all languages). The files carry the sentence splits (``sentences``,
    ``sentence_breaks``); a question's answer sentence is the one whose span holds its
    ``answer_start``. ``limit`` keeps the first N paragraphs.
    """
    folder = Path(evaldata) / "xquad-r"
    data = {
        lang: _cut(_read_xquad_r(folder, lang), limit) for lang in dict.fromkeys([*query_langs, *doc_langs])
    }
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
