"""Languages of queries and documents when a query set does not give them (most BEIR and MTEB sets).

Without them every per-language table would be one ``und`` row repeating the
overall numbers. Given labels are always kept; only records without one are
detected, and only those the tables use: judged queries and their relevant
documents (a corpus of millions is not run through a detector for nothing).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import replace

from search.core.types import UNDETERMINED, QuerySet
from search.text.language import detect_language
from search.text.query_language import detect_query_language

DETECTOR = "the app's language identifier (search.text.language: prose, script, then fastText lid.176)"
QUERY_LANGUAGES = "query languages"  # metadata keys: how the languages in the report were obtained
DOCUMENT_LANGUAGES = "document languages"


def detect_languages(texts: Sequence[str], queries: bool = False) -> list[str]:
    """The one call evaluation makes to tell texts' languages (ISO 639-1, "und" when unsure).

    The identifier the indexer and the search use: documents as the indexer reads them,
    queries as a search reads them (a best guess for any text with a letter).
    """
    if queries:
        return [detect_query_language(text).code for text in texts]
    return [detect_language(text) for text in texts]


def fill_languages(
    queryset: QuerySet,
    queries: Collection[str],
    documents: Collection[str],
    origins: tuple[str, str] = ("queries", "corpus"),
) -> QuerySet:
    """``queryset`` with the languages of these queries and documents (ids without a label) detected.

    Only judged queries and relevant documents are detected; the metadata says what was
    given (in ``origins``: the queries' and the corpus' files) and what was detected, by what.
    """
    judged = [qid for qid, grades in queryset.qrels.items() if any(g > 0 for g in grades.values())]
    relevant = {doc for grades in queryset.qrels.values() for doc, g in grades.items() if g > 0}
    query_ids = [qid for qid in judged if qid in queries and qid in queryset.queries]
    doc_ids = [doc for doc in queryset.corpus if doc in relevant and doc in documents]
    new_queries = dict(queryset.queries)
    for qid, language in zip(
        query_ids, detect_languages([new_queries[q].text for q in query_ids], queries=True)
    ):
        new_queries[qid] = replace(new_queries[qid], language=language)
    new_corpus = dict(queryset.corpus)
    texts = [_document_text(new_corpus[d].title, new_corpus[d].text) for d in doc_ids]
    for doc_id, language in zip(doc_ids, detect_languages(texts)):
        new_corpus[doc_id] = replace(new_corpus[doc_id], language=language)
    metadata = dict(queryset.metadata)
    metadata[QUERY_LANGUAGES] = _describe(
        [new_queries[q].language for q in query_ids], len(judged), "judged queries", origins[0]
    )
    metadata[DOCUMENT_LANGUAGES] = _describe(
        [new_corpus[d].language for d in doc_ids], len(relevant), "relevant documents", origins[1]
    )
    return replace(queryset, queries=new_queries, corpus=new_corpus, metadata=metadata)


def _document_text(title: str, text: str) -> str:
    return f"{title}\n{text}" if title and not text.startswith(title) else text


def _describe(detected: Sequence[str], total: int, what: str, origin: str) -> str:
    if not detected:
        return f"given ({origin})"
    undetermined = sum(1 for lang in detected if lang == UNDETERMINED)
    top = ", ".join(f"{lang} {n}" for lang, n in Counter(detected).most_common(6))
    given = total - len(detected)
    prefix = f"given for {given} of {total} {what}; " if given else ""
    count = f"{len(detected)} of {total}" if given else f"all {total}"
    return (
        f"{prefix}detected by {DETECTOR} for {count} {what} without a language field "
        f"({top}{'; und = undetermined' if undetermined else ''})"
    )
