"""Tesseract's language packs: which script each covers, its Debian package, and which to use for a page.

Tesseract reads one page with the packs it is given (``-l deu+eng``); a wrong pack reads garbage
(Latin packs on Thai) or drops the script's letters (``eng`` on Turkish loses ş, ğ, ı: 9 % of
characters in our benchmark against 0.2 % with ``tur``). The page's script comes from Tesseract's
own orientation and script detection (the ``osd`` pack); the language within a script from the
app's language identifier on a first reading. Packs are files named ``<code>.traineddata`` in the
tessdata folder; Debian ships each as ``tesseract-ocr-<code>`` (``_`` written ``-``) and the script
packs (``Latin.traineddata``...) as ``tesseract-ocr-script-<ISO 15924 code>``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

OSD_PACK = "osd"  # orientation and script detection (Debian: tesseract-ocr-osd)
ENGINE_PACKAGE = "tesseract-ocr"

# OSD's script name -> (script pack file, ISO 15924 code used by Debian's script package)
SCRIPT_PACKS: dict[str, tuple[str, str]] = {
    "Latin": ("Latin", "latn"),
    "Cyrillic": ("Cyrillic", "cyrl"),
    "Greek": ("Greek", "grek"),
    "Arabic": ("Arabic", "arab"),
    "Hebrew": ("Hebrew", "hebr"),
    "Devanagari": ("Devanagari", "deva"),
    "Bengali": ("Bengali", "beng"),
    "Gurmukhi": ("Gurmukhi", "guru"),
    "Gujarati": ("Gujarati", "gujr"),
    "Oriya": ("Oriya", "orya"),
    "Tamil": ("Tamil", "taml"),
    "Telugu": ("Telugu", "telu"),
    "Kannada": ("Kannada", "knda"),
    "Malayalam": ("Malayalam", "mlym"),
    "Sinhala": ("Sinhala", "sinh"),
    "Thai": ("Thai", "thai"),
    "Lao": ("Lao", "laoo"),
    "Khmer": ("Khmer", "khmr"),
    "Myanmar": ("Myanmar", "mymr"),
    "Tibetan": ("Tibetan", "tibt"),
    "Georgian": ("Georgian", "geor"),
    "Armenian": ("Armenian", "armn"),
    "Ethiopic": ("Ethiopic", "ethi"),
    "Han": ("HanS", "hans"),
    "Japanese": ("Japanese", "jpan"),
    "Korean": ("Hangul", "hang"),
    "Hangul": ("Hangul", "hang"),
    "Fraktur": ("Fraktur", "frak"),
    "Cherokee": ("Cherokee", "cher"),
    "Canadian_Aboriginal": ("Canadian_Aboriginal", "cans"),
    "Syriac": ("Syriac", "syrc"),
    "Thaana": ("Thaana", "thaa"),
}


@dataclass(frozen=True)
class Pack:
    code: str  # Tesseract's name: deu, chi_sim, jpn_vert
    language: str  # ISO 639-1 as the app's language identifier names it ("" when there is none)
    script: str  # OSD's script name
    vertical: bool = False  # a model for vertical text lines, used beside its horizontal pack


def _packs() -> dict[str, Pack]:
    rows = {
        "Latin": "afr:af cat:ca ces:cs cym:cy dan:da deu:de eng:en epo:eo est:et eus:eu fil:tl fin:fi "
        "fra:fr fry:fy gla:gd gle:ga glg:gl hrv:hr hun:hu ind:id isl:is ita:it lat:la lav:lv lit:lt "
        "ltz:lb mlt:mt msa:ms nld:nl nor:no oci:oc pol:pl por:pt ron:ro slk:sk slv:sl spa:es sqi:sq "
        "srp_latn:sr swa:sw swe:sv tur:tr uzb:uz vie:vi yor:yo bos:bs aze:az bre:br ceb: cos:co fao:fo "
        "hat:ht jav:jv kmr:ku mri:mi que:qu sun:su ton:to",
        "Cyrillic": "rus:ru ukr:uk bul:bg bel:be mkd:mk srp:sr kaz:kk kir:ky mon:mn tat:tt tgk:tg "
        "aze_cyrl: uzb_cyrl:",
        "Greek": "ell:el grc:",
        "Arabic": "ara:ar fas:fa urd:ur pus:ps snd:sd uig:ug",
        "Hebrew": "heb:he yid:yi",
        "Devanagari": "hin:hi mar:mr nep:ne san:sa",
        "Bengali": "ben:bn asm:as",
        "Gurmukhi": "pan:pa",
        "Gujarati": "guj:gu",
        "Oriya": "ori:or",
        "Tamil": "tam:ta",
        "Telugu": "tel:te",
        "Kannada": "kan:kn",
        "Malayalam": "mal:ml",
        "Sinhala": "sin:si",
        "Thai": "tha:th",
        "Lao": "lao:lo",
        "Khmer": "khm:km",
        "Myanmar": "mya:my",
        "Tibetan": "bod:bo dzo:dz",
        "Georgian": "kat:ka",
        "Armenian": "hye:hy",
        "Ethiopic": "amh:am tir:ti",
        "Han": "chi_sim:zh chi_tra:zh",
        "Japanese": "jpn:ja",
        "Korean": "kor:ko",
        "Cherokee": "chr:",
        "Syriac": "syr:",
        "Thaana": "div:dv",
    }
    packs = {
        code: Pack(code, language, script)
        for script, row in rows.items()
        for code, language in (item.split(":") for item in row.split())
    }
    for code, script, language in (
        ("jpn_vert", "Japanese", "ja"),
        ("chi_sim_vert", "Han", "zh"),
        ("chi_tra_vert", "Han", "zh"),
        ("kor_vert", "Korean", "ko"),
    ):
        packs[code] = Pack(code, language, script, vertical=True)
    return packs


PACKS: dict[str, Pack] = _packs()
# When a script has several language packs installed and no script pack: the one read first, whose
# text then tells the language (the most widely written language of the script).
FIRST_READING = {
    "Latin": "eng",
    "Cyrillic": "rus",
    "Arabic": "ara",
    "Devanagari": "hin",
    "Hebrew": "heb",
    "Greek": "ell",
    "Bengali": "ben",
    "Tibetan": "bod",
    "Ethiopic": "amh",
}
# Scripts whose packs are read together: Chinese text may be simplified or traditional, and a
# Japanese, Chinese or Korean page may be set vertically (the *_vert packs, where installed).
READ_TOGETHER = {"Han", "Japanese", "Korean", "Hangul"}


def debian_package(code: str) -> str:
    """The Debian package that installs a pack (a language, a script or ``osd``)."""
    for script_file, iso in SCRIPT_PACKS.values():
        if code == script_file:
            return f"tesseract-ocr-script-{iso}"
    return f"tesseract-ocr-{code.replace('_', '-').lower()}"


def install_command(packs: Iterable[str], engine: bool = True) -> str:
    """``apt-get install`` for the engine (with its script detection) and the packs named."""
    names = [ENGINE_PACKAGE, debian_package(OSD_PACK)] if engine else []
    names += sorted({debian_package(code) for code in packs} - set(names))
    return "apt-get install -y --no-install-recommends " + " ".join(names)


def packs_for_languages(languages: Iterable[str]) -> list[str]:
    """Tesseract packs that read the given ISO 639-1 languages (Chinese: simplified and traditional)."""
    wanted = set(languages)
    return sorted(code for code, pack in PACKS.items() if pack.language in wanted and not pack.vertical)


def script_choices(script: str, installed: frozenset[str]) -> tuple[str, ...]:
    """The packs one reading of a page in ``script`` uses, before its language is known; () when none is here."""
    key = "Korean" if script == "Hangul" else script
    language_packs = sorted(
        code for code, pack in PACKS.items() if pack.script == key and code in installed and not pack.vertical
    )
    script_file = SCRIPT_PACKS.get(script, ("", ""))[0]
    if key in READ_TOGETHER and language_packs:
        vertical = [code for code, pack in PACKS.items() if pack.script == key and pack.vertical]
        return tuple(language_packs + sorted(code for code in vertical if code in installed))
    if not language_packs:
        # one model that knows every language of the script (2-3 times slower than a language's)
        return (script_file,) if script_file in installed else ()
    first = FIRST_READING.get(key)
    return (first,) if first in language_packs else (language_packs[0],)


def needs_language_choice(script: str, packs: tuple[str, ...], installed: frozenset[str]) -> bool:
    """Whether the first reading was a stand-in: other packs of the script are here, one may fit better."""
    if len(packs) != 1 or packs[0] not in PACKS or script in READ_TOGETHER:
        return False
    key = "Korean" if script == "Hangul" else script
    script_file = SCRIPT_PACKS.get(script, ("", ""))[0]
    others = any(
        pack.script == key and code in installed and code != packs[0] for code, pack in PACKS.items()
    )
    return others or script_file in installed


def pack_for_language(language: str, script: str, installed: frozenset[str]) -> str | None:
    """The pack that reads ``language`` best here: its own, else its script's (when installed)."""
    key = "Korean" if script == "Hangul" else script
    for code, pack in sorted(PACKS.items()):
        if pack.language == language and pack.script == key and not pack.vertical and code in installed:
            return code
    script_file = SCRIPT_PACKS.get(script, ("", ""))[0]
    first = FIRST_READING.get(key)
    if script_file in installed and first and PACKS[first].language != language:
        return script_file
    return None


def missing_packs(script: str) -> tuple[str, ...]:
    """What to install for a script with no pack here: its main language's pack (and the vertical one for CJK)."""
    key = "Korean" if script == "Hangul" else script
    if key == "Han":
        return ("chi_sim", "chi_tra")
    if key == "Japanese":
        return ("jpn", "jpn_vert")
    first = FIRST_READING.get(key)
    if first:
        return (first,)
    codes = sorted(code for code, pack in PACKS.items() if pack.script == key and not pack.vertical)
    if codes:
        return (codes[0],)
    script_file = SCRIPT_PACKS.get(script, ("", ""))[0]
    return (script_file,) if script_file else ()
