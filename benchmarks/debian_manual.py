"""A real held-out query set: the Debian Reference manual in 8 languages, real questions, judged by rule.

Why: the relevance cue and the vote have to hold on a real folder nobody tuned on (issue 22:
"strong" on 176 of 210 hits of a real manual, 31 of them irrelevant). Debian's
``debian-reference-{en,de,fr,ja,es,it,pt,id}`` packages install the same manual in 8
languages as HTML (/usr/share/debian-reference/ch*.LANG.html); its sections carry the same
anchor in every translation, so one judgement covers all languages.

Corpus: one document per section (h2/h3 with its anchor), id ``LANG:anchor``, the heading
as title. Queries: ``QUESTIONS`` (8 topics, 6-8 languages each, written for this set) plus
``OFF_TOPIC`` questions about nothing in the manual (no judgement: every hit is irrelevant).
Judgements, reproducible from the English text: a section is relevant to a topic when its
English version names one of the topic's terms at least ``min_count`` times (the anchor
then counts in every language), so a passage that is mostly about the topic counts,
a passing mention does not.

    apt-get install -y debian-reference-en debian-reference-de debian-reference-fr \\
        debian-reference-ja debian-reference-es debian-reference-it debian-reference-pt debian-reference-id
    python -m benchmarks.debian_manual OUT_DIR [--languages en,de,fr,ja,es,it,pt,id]
"""

from __future__ import annotations

import argparse
import html
import re
import shutil
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from search.core.types import CorpusDoc, Query, QuerySet
from search.evaluation.querysets import save_queryset

MANUAL = Path("/usr/share/debian-reference")
LANGUAGES = ("en", "de", "fr", "ja", "es", "it", "pt", "id")
_HEADING = re.compile(r'<h([23]) class="title"><a id="([^"]+)"\s*/>(.*?)</h\1>', re.S)
_TAG = re.compile(r"<[^>]+>")


@dataclass(frozen=True)
class Topic:
    name: str
    terms: tuple[str, ...]  # lower-case terms counted in a section's English text
    min_count: int
    questions: dict[str, str]  # language -> question


TOPICS: tuple[Topic, ...] = (
    Topic(
        "cron",
        ("cron", "crontab"),
        2,
        {
            "en": "How do I schedule a command to run every night?",
            "de": "Wie plane ich eine Aufgabe mit cron?",
            "fr": "Comment exécuter une commande régulièrement avec cron ?",
            "ja": "cronでタスクを定期的に実行するにはどうすればよいですか?",
            "es": "¿Cómo programo una tarea periódica con cron?",
            "it": "Come si pianifica un'attività ricorrente con cron?",
            "pt": "Como agendar uma tarefa para rodar todos os dias?",
            "id": "Bagaimana cara menjadwalkan tugas rutin dengan cron?",
        },
    ),
    Topic(
        "apt",
        ("apt-get", "apt "),
        4,
        {
            "en": "How do I install and upgrade packages with apt?",
            "de": "Wie installiere ich Pakete mit apt-get?",
            "fr": "Comment mettre à jour les paquets avec apt ?",
            "ja": "aptでパッケージをインストールする方法は?",
            "es": "¿Cómo actualizo la lista de paquetes con apt?",
            "it": "Come si installano i pacchetti con apt?",
            "pt": "Como atualizar o sistema com o apt?",
        },
    ),
    Topic(
        "network",
        ("networkmanager", "/etc/network/interfaces", "ifupdown", "systemd-networkd"),
        2,
        {
            "en": "How do I configure a network interface?",
            "de": "Wie konfiguriere ich die Netzwerkschnittstelle?",
            "fr": "Comment configurer l'interface réseau ?",
            "ja": "ネットワークインターフェースの設定方法は?",
            "es": "¿Cómo se configura la red en Debian?",
            "it": "Come si configura l'interfaccia di rete?",
            "id": "Bagaimana cara mengatur antarmuka jaringan?",
        },
    ),
    Topic(
        "ssh",
        ("ssh",),
        4,
        {
            "en": "How can I log in to a remote machine without a password?",
            "de": "Wie melde ich mich per SSH auf einem entfernten Rechner an?",
            "fr": "Comment se connecter à une machine distante avec SSH ?",
            "ja": "SSHでリモートのマシンに接続するには?",
            "es": "¿Cómo me conecto a un servidor remoto por SSH?",
            "pt": "Como acessar outro computador com ssh?",
        },
    ),
    Topic(
        "sudo",
        ("sudo",),
        4,
        {
            "en": "How do I let a user run commands as root?",
            "de": "Wie richte ich sudo für einen Benutzer ein?",
            "fr": "Comment configurer sudo ?",
            "ja": "sudoの設定方法を教えてください",
            "it": "Come si configura sudo per un utente?",
            "id": "Bagaimana cara mengonfigurasi sudo?",
        },
    ),
    Topic(
        "backup",
        ("backup",),
        3,
        {
            "en": "What is a good way to back up my data?",
            "de": "Wie sichere ich meine Daten regelmäßig?",
            "fr": "Comment sauvegarder mes données ?",
            "ja": "データのバックアップはどうすればよいですか?",
            "es": "¿Cómo hago una copia de seguridad de mis archivos?",
            "pt": "Como fazer backup dos meus dados?",
        },
    ),
    Topic(
        "locale",
        ("locale",),
        3,
        {
            "en": "How do I change the system language and locale?",
            "de": "Wie stelle ich die Locale auf UTF-8 um?",
            "fr": "Comment changer la langue du système (locale) ?",
            "ja": "ロケールを変更するには?",
            "es": "¿Cómo cambio la configuración regional (locale)?",
            "it": "Come si cambia la lingua del sistema?",
        },
    ),
    Topic(
        "partition",
        ("partition",),
        3,
        {
            "en": "How do I partition a new hard disk?",
            "de": "Wie partitioniere ich eine neue Festplatte?",
            "fr": "Comment partitionner un disque dur ?",
            "ja": "ハードディスクのパーティションを作成する方法は?",
            "es": "¿Cómo particiono un disco duro nuevo?",
            "id": "Bagaimana cara membuat partisi pada hard disk baru?",
        },
    ),
)

# About nothing the manual covers: every hit of these is irrelevant.
OFF_TOPIC: dict[str, str] = {
    "off:volcano-ar": "كيف تتشكل البراكين؟",
    "off:volcano-en": "How do volcanoes form?",
    "off:bread-fr": "Comment faire un levain pour le pain ?",
    "off:bees-de": "Warum sterben Bienenvölker im Winter?",
    "off:coral-ja": "サンゴの白化はなぜ起こるのですか?",
    "off:football-es": "¿Quién ganó la copa del mundo de fútbol en 1998?",
    "off:cake-it": "Come si prepara una torta al cioccolato?",
    "off:whales-pt": "Por que as baleias cantam?",
    "off:rice-id": "Bagaimana cara menanam padi di sawah?",
    "off:painting-en": "Who painted the Mona Lisa and when?",
    "off:marathon-de": "Wie trainiere ich für einen Marathon?",
    "off:tea-zh": "绿茶是怎么制作的?",
}


def sections(path: Path) -> list[tuple[str, str, str]]:
    """(anchor, heading, text) of each h2/h3 section of one chapter file."""
    page = path.read_text(encoding="utf-8")
    marks = list(_HEADING.finditer(page))
    out = []
    for i, mark in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(page)
        heading = " ".join(html.unescape(_TAG.sub(" ", mark.group(3))).split())
        body = _TAG.sub(" ", page[mark.end() : end])
        text = "\n".join(" ".join(line.split()) for line in html.unescape(body).splitlines() if line.strip())
        if len(text) > 40:
            out.append((mark.group(2), heading, text))
    return out


def build(languages: Sequence[str] = LANGUAGES, manual: Path = MANUAL) -> QuerySet:
    corpus: dict[str, CorpusDoc] = {}
    english: dict[str, str] = {}
    for lang in dict.fromkeys(["en", *languages]):
        files = sorted(manual.glob(f"ch[0-9][0-9].{lang}.html"))
        if not files:
            sys.exit(
                f"no Debian Reference in {lang!r} under {manual}: apt-get install -y debian-reference-{lang}"
            )
        for path in files:
            for anchor, heading, text in sections(path):
                if lang == "en":
                    english[anchor] = text.lower()
                if lang in languages:
                    doc_id = f"{lang}:{anchor}"
                    corpus[doc_id] = CorpusDoc(doc_id, text, title=heading, language=lang)
    queries: dict[str, Query] = {}
    qrels: dict[str, dict[str, int]] = {}
    for topic in TOPICS:
        anchors = {
            a for a, text in english.items() if sum(text.count(t) for t in topic.terms) >= topic.min_count
        }
        judged = {doc_id: 1 for doc_id in corpus if doc_id.split(":", 1)[1] in anchors}
        for lang, text in topic.questions.items():
            qid = f"{topic.name}-{lang}"
            queries[qid] = Query(qid, text, lang)
            qrels[qid] = judged
    for qid, text in OFF_TOPIC.items():
        queries[qid] = Query(qid, text, qid.rsplit("-", 1)[1])
    return QuerySet(
        "debian-reference",
        corpus,
        queries,
        qrels,
        description=(
            f"Debian Reference manual ({', '.join(languages)}), one document per section; "
            f"{sum(len(t.questions) for t in TOPICS)} questions on {len(TOPICS)} topics judged by rule, "
            f"{len(OFF_TOPIC)} off-topic questions without judgements"
        ),
    )


# A real ~10k-chunk multilingual folder (e5-small's chunking): the HTML chapters of seven editions
# and the whole manual as PDF (~260 pages each) in three others.
FOLDER_HTML = ("en", "de", "fr", "ja", "es", "it", "zh-cn")
FOLDER_PDF = ("pt", "id", "zh-tw")


def real_folder(
    dest: Path,
    html_languages: Sequence[str] = FOLDER_HTML,
    pdf_languages: Sequence[str] = FOLDER_PDF,
    manual: Path = MANUAL,
) -> Path:
    """A folder of the manual's own files (hard-linked, else copied): real text, real PDFs, many languages.

    Why: memory and speed of indexing must be measured on what a user indexes (long PDFs beside
    HTML chapters, several scripts), not only on generated text.
    """
    files = [p for lang in html_languages for p in sorted(manual.glob(f"*.{lang}.html"))]
    files += [manual / f"debian-reference.{lang}.pdf" for lang in pdf_languages]
    missing = [p.name for p in files if not p.is_file()]
    if missing or not files:
        langs = " ".join(
            f"debian-reference-{lang}" for lang in dict.fromkeys([*html_languages, *pdf_languages])
        )
        sys.exit(
            f"Debian Reference files missing under {manual} ({', '.join(missing[:3])}): apt-get install -y {langs}"
        )
    dest.mkdir(parents=True, exist_ok=True)
    for path in files:
        target = dest / path.name
        if not target.exists():
            try:
                target.hardlink_to(path)
            except OSError:
                shutil.copyfile(path, target)
    return dest


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("out", type=Path)
    parser.add_argument("--languages", default=",".join(LANGUAGES))
    args = parser.parse_args(argv)
    queryset = build(tuple(args.languages.split(",")))
    save_queryset(queryset, args.out)
    relevant = {qid: len(j) for qid, j in queryset.qrels.items()}
    print(f"{len(queryset.corpus)} sections, {len(queryset.queries)} queries -> {args.out}")
    for topic in TOPICS:
        print(f"  {topic.name}: {relevant[f'{topic.name}-en']} relevant sections (all languages)")


if __name__ == "__main__":
    main()
