"""Development and test halves of XQuAD-derived query sets, split by article.

Why: a constant chosen on a set must be reported on another (issue 22). XQuAD's 240
paragraphs come from 48 Wikipedia articles; questions about one article share its
vocabulary and topic, so the halves split by article, not by question: ``dev`` holds
articles 0-23 (the documents and the questions about them), ``test`` articles 24-47.
Document ids carry the paragraph id ``<article>-<paragraph>`` after the language
(``de:3-1``, XQuAD-R ``de:3-1:2``).
"""

from __future__ import annotations

from search.core.types import QuerySet

ARTICLES = 48
SPLITS = ("dev", "test", "all")


def article_of(doc_id: str) -> int:
    return int(doc_id.split(":")[1].split("-", 1)[0])


def in_split(article: int, split: str) -> bool:
    if split == "all":
        return True
    return (article < ARTICLES // 2) == (split == "dev")


def article_split(queryset: QuerySet, split: str) -> QuerySet:
    """The documents of the split's articles and the queries judged on them."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; use one of {SPLITS}")
    if split == "all":
        return queryset
    corpus = {d: doc for d, doc in queryset.corpus.items() if in_split(article_of(d), split)}
    qrels = {
        qid: {d: g for d, g in judged.items() if d in corpus}
        for qid, judged in queryset.qrels.items()
        if any(d in corpus for d in judged)
    }
    queries = {qid: q for qid, q in queryset.queries.items() if qid in qrels}
    return QuerySet(
        f"{queryset.name}-{split}",
        corpus,
        queries,
        qrels,
        description=f"{queryset.description} ({split} half: articles {'0-23' if split == 'dev' else '24-47'})",
        metadata={**queryset.metadata, "split": split},
    )
