"""Which Tesseract packs read a page (indexer/ocr/languages.py): pure logic, no engine needed."""

from __future__ import annotations

from indexer.ocr.languages import (
    debian_package,
    install_command,
    needs_language_choice,
    pack_for_language,
    packs_for_languages,
    script_choices,
)


def test_a_script_with_several_language_packs_is_read_first_with_its_most_common_language() -> None:
    installed = frozenset({"eng", "deu", "fra", "rus", "ukr", "osd"})
    assert script_choices("Latin", installed) == ("eng",)
    assert needs_language_choice("Latin", ("eng",), installed)
    assert pack_for_language("de", "Latin", installed) == "deu"
    assert script_choices("Cyrillic", installed) == ("rus",)
    assert pack_for_language("uk", "Cyrillic", installed) == "ukr"


def test_a_script_pack_reads_languages_without_a_pack_of_their_own() -> None:
    assert script_choices("Latin", frozenset({"Latin"})) == ("Latin",)
    with_script = frozenset({"eng", "Latin"})
    assert needs_language_choice("Latin", ("eng",), with_script)
    assert pack_for_language("pl", "Latin", with_script) == "Latin"
    assert pack_for_language("en", "Latin", with_script) == "eng"


def test_cjk_packs_are_read_together_with_their_vertical_models() -> None:
    installed = frozenset({"chi_sim", "chi_tra", "chi_sim_vert", "jpn", "jpn_vert", "kor"})
    assert script_choices("Han", installed) == ("chi_sim", "chi_tra", "chi_sim_vert")
    assert script_choices("Japanese", installed) == ("jpn", "jpn_vert")
    assert script_choices("Hangul", installed) == script_choices("Korean", installed) == ("kor",)
    assert not needs_language_choice("Japanese", ("jpn", "jpn_vert"), installed)


def test_a_script_without_packs_has_nothing_to_read_it_and_names_what_to_install() -> None:
    assert script_choices("Thai", frozenset({"eng"})) == ()
    assert debian_package("chi_sim") == "tesseract-ocr-chi-sim"
    assert debian_package("jpn_vert") == "tesseract-ocr-jpn-vert"
    assert debian_package("Latin") == "tesseract-ocr-script-latn"
    assert install_command(["deu", "tha"]) == (
        "apt-get install -y --no-install-recommends tesseract-ocr tesseract-ocr-osd tesseract-ocr-deu tesseract-ocr-tha"
    )
    assert (
        install_command(["tha"], engine=False)
        == "apt-get install -y --no-install-recommends tesseract-ocr-tha"
    )
    assert packs_for_languages(["zh", "ja"]) == ["chi_sim", "chi_tra", "jpn"]
