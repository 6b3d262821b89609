"""search.evaluation.querysets: BEIR folders and the XQuAD converters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from search.core.errors import QuerySetError
from search.core.types import CorpusDoc, Query, QuerySet
from search.evaluation.querysets import load_queryset, save_queryset
from search.evaluation.xquad import xquad_cross_lingual, xquad_r, xquad_same_language

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "sample_corpora" / "queryset"
EVALDATA = REPO.parent / "shared" / "evaldata"
needs_evaldata = pytest.mark.skipif(
    not (EVALDATA / "xquad").is_dir(),
    reason=f"XQuAD not found at {EVALDATA / 'xquad'} (shared evaluation data)",
)


def test_sample_queryset_loads() -> None:
    qs = load_queryset(SAMPLE)
    assert qs.name == "mlsearch-sample-v1"
    assert len(qs.corpus) == 51
    assert len(qs.queries) == 128
    assert sum(len(j) for j in qs.qrels.values()) == 356
    assert {q.language for q in qs.queries.values()} >= {"ar", "de", "en", "es", "fr", "hi", "ja", "ru", "zh"}
    assert all(doc_id in qs.corpus for judged in qs.qrels.values() for doc_id in judged)
    for doc_id, doc in qs.corpus.items():
        assert doc.text.strip(), doc_id
        assert doc.language == doc_id.split("/")[1][:2]  # file names start with the document's language


def test_sample_corpus_export_covers_every_document() -> None:
    """corpus.jsonl is generated (build.py --export-corpus); it must list exactly the documents on disk."""
    qs = load_queryset(SAMPLE)
    on_disk = {
        p.relative_to(SAMPLE.parent / "documents").as_posix()
        for p in (SAMPLE.parent / "documents").rglob("*.*")
    }
    assert set(qs.corpus) == on_disk
    for doc_id, doc in qs.corpus.items():
        assert doc.title and doc.text.startswith(doc.title[:10]), doc_id


def _tiny() -> QuerySet:
    return QuerySet(
        name="tiny",
        corpus={
            "a/1.txt": CorpusDoc("a/1.txt", "Erster Absatz.\n\nZweiter Absatz.", title="Eins", language="de"),
            "b": CorpusDoc("b", "中文 text", language="zh"),
        },
        queries={"q1": Query("q1", "Absatz", "de"), "q2": Query("q2", "what?", "en")},
        qrels={"q1": {"a/1.txt": 2, "b": 1}, "q2": {"b": 1}},
        description="two documents",
    )


def test_save_load_round_trip(tmp_path: Path) -> None:
    qs = _tiny()
    save_queryset(qs, tmp_path / "set")
    back = load_queryset(tmp_path / "set")
    assert back.name == qs.name and back.description == qs.description
    assert dict(back.corpus) == dict(qs.corpus)
    assert dict(back.queries) == dict(qs.queries)
    assert {q: dict(j) for q, j in back.qrels.items()} == {q: dict(j) for q, j in qs.qrels.items()}
    header = (tmp_path / "set" / "qrels.tsv").read_text(encoding="utf-8").splitlines()[0]
    assert header == "query-id\tcorpus-id\tscore"


def test_loader_errors_name_the_file_and_line(tmp_path: Path) -> None:
    folder = tmp_path / "set"
    save_queryset(_tiny(), folder)
    qrels = folder / "qrels.tsv"
    qrels.write_text(qrels.read_text(encoding="utf-8") + "q1\tmissing-doc\t1\n", encoding="utf-8")
    with pytest.raises(QuerySetError, match=r"qrels.tsv:5: document 'missing-doc'"):
        load_queryset(folder)
    qrels.write_text("query-id\tcorpus-id\tscore\nq9\tb\t1\n", encoding="utf-8")
    with pytest.raises(QuerySetError, match="unknown query id 'q9'"):
        load_queryset(folder)
    (folder / "corpus.jsonl").unlink()
    with pytest.raises(QuerySetError, match="missing corpus.jsonl"):
        load_queryset(folder)
    with pytest.raises(QuerySetError, match="not a query set folder"):
        load_queryset(tmp_path / "nowhere")


def test_qrels_without_header_or_tabs_and_zero_grades(tmp_path: Path) -> None:
    folder = tmp_path / "set"
    save_queryset(_tiny(), folder)
    (folder / "qrels.tsv").write_text("q1 a/1.txt 2\nq1 b 0\n", encoding="utf-8")
    qs = load_queryset(folder)
    assert {q: dict(j) for q, j in qs.qrels.items()} == {"q1": {"a/1.txt": 2}}


# ---- XQuAD converters on a synthetic two-language XQuAD ---------------------------------------


def _squad(paragraphs: list[tuple[str, list[tuple[str, str, int]]]]) -> dict:
    return {
        "version": "1.1",
        "data": [
            {
                "title": "t",
                "paragraphs": [
                    {
                        "context": context,
                        "qas": [
                            {
                                "id": qid,
                                "question": question,
                                "answers": [{"answer_start": start, "text": "x"}],
                            }
                            for qid, question, start in qas
                        ],
                    }
                    for context, qas in paragraphs
                ],
            }
        ],
    }


@pytest.fixture
def fake_evaldata(tmp_path: Path) -> Path:
    root = tmp_path / "evaldata"
    (root / "xquad").mkdir(parents=True)
    (root / "xquad-r").mkdir()
    en = [
        (
            " Bees make honey. Honey is sweet. ",
            [("a1", "What do bees make? ", 0), ("a2", "Is honey sweet?", 18)],
        ),
        ("Rye bread is sour.", [("b1", "What do bees make?", 0)]),  # the same question text again
    ]
    de = [
        (
            "Bienen machen Honig. Honig ist süß.",
            [("a1", "Was machen Bienen?", 0), ("a2", "Ist Honig süß?", 21)],
        ),
        ("Roggenbrot ist sauer.", [("b1", "Was ist sauer?", 0)]),
    ]
    for lang, paragraphs in (("en", en), ("de", de)):
        (root / "xquad" / f"xquad.{lang}.json").write_text(json.dumps(_squad(paragraphs)), encoding="utf-8")
        data = _squad(paragraphs)
        for paragraph in data["data"][0]["paragraphs"]:
            text = paragraph["context"]
            cut = text.find(". ") + 1 or len(text)
            paragraph["sentence_breaks"] = [[0, cut], [cut + 1, len(text)]]
            paragraph["sentences"] = [text[:cut], text[cut + 1 :]]
        (root / "xquad-r" / f"{lang}.json").write_text(json.dumps(data), encoding="utf-8")
    return root


def test_same_language_follows_mteb(fake_evaldata: Path) -> None:
    qs = xquad_same_language(fake_evaldata, "en")
    assert set(qs.corpus) == {"en:0-0", "en:0-1"}
    assert qs.corpus["en:0-0"].text == "Bees make honey. Honey is sweet."  # stripped
    # "What do bees make?" is asked twice: one query, named by the last id, relevant to both paragraphs
    assert set(qs.queries) == {"en:b1", "en:a2"}
    assert qs.queries["en:b1"].text == "What do bees make?"
    assert dict(qs.qrels["en:b1"]) == {"en:0-0": 1, "en:0-1": 1}
    assert all(q.language == "en" for q in qs.queries.values())
    assert len(xquad_same_language(fake_evaldata, "de", limit=1).corpus) == 1


def test_cross_lingual_pools_languages(fake_evaldata: Path) -> None:
    qs = xquad_cross_lingual(fake_evaldata, ["de"], ["en", "de"])
    assert set(qs.corpus) == {"en:0-0", "en:0-1", "de:0-0", "de:0-1"}
    assert dict(qs.qrels["de:a1"]) == {"en:0-0": 1, "de:0-0": 1}
    assert {d.language for d in qs.corpus.values()} == {"en", "de"}
    targeted = xquad_cross_lingual(fake_evaldata, ["de"], ["en", "de"], target="en")
    assert dict(targeted.qrels["de:a1"]) == {"en:0-0": 1}
    assert len(targeted.corpus) == 4  # the German paragraphs stay in the pool as distractors
    with pytest.raises(QuerySetError, match="target language 'fr'"):
        xquad_cross_lingual(fake_evaldata, ["de"], ["en"], target="fr")
    with pytest.raises(QuerySetError, match="no XQuAD file for 'fr'"):
        xquad_cross_lingual(fake_evaldata, ["fr"], ["en"])


def test_xquad_r_relevant_sentences(fake_evaldata: Path) -> None:
    qs = xquad_r(fake_evaldata, ["en"], ["en", "de"])
    assert qs.corpus["en:0-0:1"].text == "Honey is sweet."
    assert dict(qs.qrels["en:a2"]) == {"en:0-0:1": 1, "de:0-0:1": 1}
    assert dict(qs.qrels["en:a1"]) == {"en:0-0:0": 1, "de:0-0:0": 1}


@pytest.mark.slow
@needs_evaldata
def test_real_xquad_matches_mteb_counts() -> None:
    """MTEB's XQuADRetrieval metadata: 240 documents, these query counts per language."""
    mteb_queries = {"ar": 1186, "de": 1181, "el": 1184, "en": 1185, "es": 1184, "hi": 1183,
                    "ro": 1184, "ru": 1185, "th": 1180, "tr": 1184, "vi": 1182, "zh": 1181}  # fmt: skip
    mteb_doc_length = {"en": 784.8333333333334, "zh": 252.4}
    for lang, n in mteb_queries.items():
        qs = xquad_same_language(EVALDATA, lang)
        assert len(qs.corpus) == 240, lang
        assert len(qs.queries) == n, lang
        if lang in mteb_doc_length:
            mean = sum(len(d.text) for d in qs.corpus.values()) / len(qs.corpus)
            assert mean == pytest.approx(mteb_doc_length[lang]), lang
    cross = xquad_cross_lingual(EVALDATA, ["de", "zh"], ["en", "ar"])
    assert len(cross.corpus) == 480
    assert all(len(j) == 2 for j in cross.qrels.values())
