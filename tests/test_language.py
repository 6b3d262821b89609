"""Language detection: 16 languages short and long, script shortcuts, "und", determinism, threads."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from search.core.types import UNDETERMINED
from search.text.language import UNAMBIGUOUS_SCRIPTS, detect_language, identify, script_counts

# language -> (one sentence, a short paragraph)
SAMPLES: dict[str, tuple[str, str]] = {
    "en": (
        "The weather is lovely today and we are going to the beach.",
        (
            "Honeybees are social insects that live in large colonies. A healthy hive can contain tens of thousands "
            "of workers, a single queen and a few hundred drones. Beekeepers inspect their hives regularly to check "
            "for pests and diseases."
        ),
    ),
    "de": (
        "Das Wetter ist heute schön und wir gehen an den Strand.",
        (
            "Wildbienen sind für die Bestäubung vieler Pflanzen unverzichtbar. In Deutschland leben mehr als "
            "fünfhundert Arten, von denen viele gefährdet sind. Naturnahe Gärten mit heimischen Blumen helfen ihnen "
            "beim Überleben."
        ),
    ),
    "fr": (
        "Il fait très beau aujourd'hui et nous allons à la plage.",
        (
            "Le blanchissement des coraux se produit lorsque l'eau devient trop chaude. Les coraux expulsent alors "
            "les algues qui vivent dans leurs tissus et perdent leur couleur. Si la chaleur dure trop longtemps, ils "
            "finissent par mourir."
        ),
    ),
    "es": (
        "Hoy hace muy buen tiempo y vamos a ir a la playa.",
        (
            "Sevilla ha construido en pocos años una red de carriles para bicicletas que recorre toda la ciudad. El "
            "número de desplazamientos en bicicleta se multiplicó y muchos vecinos dejaron el coche en casa."
        ),
    ),
    "it": (
        "Oggi il tempo è bellissimo e andiamo al mare con gli amici.",
        (
            "Il Vesuvio è un vulcano attivo che domina il golfo di Napoli. Nell'anno 79 dopo Cristo un'eruzione "
            "violenta seppellì le città di Pompei ed Ercolano."
        ),
    ),
    "pt": (
        "Hoje o tempo está ótimo e nós vamos à praia com a família.",
        (
            "O corpo se adapta ao esforço nos períodos de recuperação, quando músculos e tendões se reconstroem. Por "
            "isso, os planos para iniciantes incluem dias de descanso."
        ),
    ),
    "ru": (
        "Сегодня прекрасная погода, и мы идём на пляж.",
        (
            "Бородинский хлеб пекут из ржаной муки с добавлением солода и кориандра. У него тёмный цвет, плотная "
            "мякоть и кисло-сладкий вкус."
        ),
    ),
    "zh": (
        "今天天气很好，我们去海边散步吧。",
        "西湖龙井是中国最著名的绿茶之一，产于浙江省杭州市西湖周围的山区。龙井茶的外形扁平光滑，色泽翠绿，香气清高。",
    ),
    "ja": (
        "今日はとても良い天気なので、海に行きましょう。",
        "沖縄県の石垣島と西表島の間に広がる石西礁湖は、日本最大のサンゴ礁域である。数百種の造礁サンゴが生息している。",
    ),
    "ar": (
        "الطقس جميل جدا اليوم ونحن ذاهبون إلى البحر.",
        (
            "تعد الشعاب المرجانية في البحر الأحمر من أكثر الشعاب مقاومة لارتفاع درجات الحرارة. ويدرس العلماء هذه "
            "الشعاب لفهم كيفية تكيف المرجان مع تغير المناخ."
        ),
    ),
    "hi": (
        "आज मौसम बहुत अच्छा है और हम समुद्र तट पर जा रहे हैं।",
        "चंद्रयान-3 भारत का तीसरा चंद्र मिशन था। इसका लैंडर चंद्रमा के दक्षिणी ध्रुव के पास सफलतापूर्वक उतरा।",
    ),
    "ko": (
        "오늘은 날씨가 정말 좋아서 바다에 가요.",
        "보성은 한국에서 가장 유명한 녹차 생산지입니다. 계단식 차밭이 언덕을 따라 넓게 펼쳐져 있습니다.",
    ),
    "th": (
        "วันนี้อากาศดีมาก เราจะไปทะเลกัน",
        "กรุงเทพมหานครเป็นเมืองหลวงของประเทศไทย มีประชากรมากกว่าสิบล้านคน เมืองนี้มีวัดที่สวยงามและอาหารริมทางที่อร่อยมากมาย",
    ),
    "tr": (
        "Bugün hava çok güzel ve denize gidiyoruz.",
        (
            "İstanbul Maratonu, iki kıtada koşulan dünyadaki tek maratondur. Koşucular Asya yakasından başlayıp "
            "Boğaziçi Köprüsü'nü geçerek Avrupa yakasına ulaşır."
        ),
    ),
    "vi": (
        "Hôm nay trời rất đẹp và chúng tôi đi biển.",
        (
            "Hà Nội là thủ đô của Việt Nam và là một trong những thành phố cổ nhất Đông Nam Á. Thành phố nổi tiếng "
            "với các hồ nước và những con phố cổ."
        ),
    ),
    "el": (
        "Σήμερα ο καιρός είναι πολύ ωραίος και πάμε στη θάλασσα.",
        (
            "Η Ακρόπολη της Αθήνας είναι ένα από τα πιο γνωστά μνημεία του κόσμου. Ο Παρθενώνας χτίστηκε τον πέμπτο "
            "αιώνα προ Χριστού."
        ),
    ),
}


@pytest.mark.parametrize("language", sorted(SAMPLES))
def test_one_sentence(language: str) -> None:
    assert detect_language(SAMPLES[language][0]) == language


@pytest.mark.parametrize("language", sorted(SAMPLES))
def test_paragraph(language: str) -> None:
    assert detect_language(SAMPLES[language][1]) == language


@pytest.mark.parametrize("language", sorted(SAMPLES))
def test_long_text(language: str) -> None:
    """Long texts are sampled from start, middle and end; the answer must not change."""
    assert detect_language((SAMPLES[language][1] + "\n\n") * 200) == language


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("안녕하세요", "ko"),
        ("こんにちは", "ja"),
        ("カタカナ", "ja"),
        ("สวัสดี", "th"),
        ("Καλημέρα", "el"),
        ("שלום עולם", "he"),
        ("გამარჯობა", "ka"),
        ("வணக்கம்", "ta"),
    ],
)
def test_unambiguous_script_decides_even_short_text(text: str, expected: str) -> None:
    assert detect_language(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("महाराष्ट्र हे भारतातील एक मोठे राज्य आहे आणि मुंबई ही त्याची राजधानी आहे.", "mr"),
        ("नेपाल एक सुन्दर देश हो र यहाँ हिमालयका धेरै अग्ला हिमालहरू छन्।", "ne"),
        ("یہ ایک اردو جملہ ہے اور اس میں کئی الفاظ ہیں۔", "ur"),
        ("این یک جمله فارسی است که چند کلمه دارد و معنی دارد.", "fa"),
        ("Україна — держава у Східній Європі, її столиця Київ.", "uk"),
    ],
)
def test_shared_scripts_are_left_to_statistics(text: str, expected: str) -> None:
    """Devanagari, Arabic and Cyrillic script do not name a language."""
    assert detect_language(text) == expected


def test_devanagari_is_not_a_shortcut() -> None:
    assert "Devanagari" not in UNAMBIGUOUS_SCRIPTS
    assert "Arabic" not in UNAMBIGUOUS_SCRIPTS


@pytest.mark.parametrize(
    "text",
    ["", "   \n", "12345 !!! --- 3.14", "ok", "Hello", "👍🎉", "https://example.com/a/b", "ls -l /etc"],
)
def test_undetermined(text: str) -> None:
    assert detect_language(text) == UNDETERMINED


def test_short_text_keeps_a_language_when_the_detector_is_sure() -> None:
    """Below MIN_LETTERS a shared script answers only at SHORT_MIN_PROBABILITY: "und" is for text
    without a language, not for every short heading."""
    assert detect_language("東京都") == "ja"
    assert detect_language("Das ist gut.") == "de"


def test_japanese_with_latin_and_many_kanji_is_still_japanese() -> None:
    text = "東京都千代田区の国立国会図書館は、日本最大の図書館である。APIやOCRの技術も利用されている。"
    assert detect_language(text) == "ja"


def test_a_japanese_line_counts_its_kana_and_kanji_together_against_quoted_english() -> None:
    """Each line votes for one script: a Japanese instruction quoting English menu names has more Latin
    letters than kana or kanji alone, but fewer than both (the Debian Reference's ch08.ja read as en)."""
    text = (
        "日本語の入力メソッドを英語の環境で使うと便利です。\n"
        "Install the input method package with its recommended packages.\n"
        '"Settings" → "Keyboard" → "Input Sources" → "Japanese" を選択し "Add" をクリックします。\n'
        "You may choose as many input sources as you like.\n"
        '"Region" → "Formats" → "Language" を開き "Done" をクリックします。\n'
        "Log in again to your user account.\n"
    )
    assert detect_language(text) == "ja"


def test_one_japanese_line_quoting_english_names_is_japanese() -> None:
    """The one-line path (queries, headings) pools kana and kanji too (before: "und" as a chunk, "en" as
    a query)."""
    line = '"Settings" → "Keyboard" → "Input Sources" → "Japanese" を選択し "Add" をクリックします。'
    assert detect_language(line) == "ja"
    assert identify(line, best_guess=True).code == "ja"


def test_chinese_code_is_plain_iso_639_1() -> None:
    assert detect_language("我们在北京学习中文，这里的老师都很好，学生也非常努力。") == "zh"
    assert detect_language("我們在臺北學習中文，這裡的老師都很好，學生也非常努力。") == "zh"


def test_min_letters_raises_the_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    """Below ``min_letters`` a shared script needs the detector's SHORT_MIN_PROBABILITY."""
    from search.text import language

    sentence = SAMPLES["de"][0]
    assert detect_language(sentence) == "de"
    monkeypatch.setattr(language, "SHORT_MIN_PROBABILITY", 1.01)
    assert detect_language(sentence) == "de"
    assert detect_language(sentence, min_letters=200) == UNDETERMINED
    assert detect_language(SAMPLES["ko"][0], min_letters=200) == "ko"  # the script needs no statistics


def test_repeated_calls_agree() -> None:
    texts = [s for pair in SAMPLES.values() for s in pair] + ["Das ist gut. C'est bon. Es bueno."]
    first = [detect_language(t) for t in texts]
    for _ in range(3):
        assert [detect_language(t) for t in texts] == first


def test_threads_get_the_same_answers_as_one_thread() -> None:
    texts = [s for pair in SAMPLES.values() for s in pair] * 4
    sequential = [detect_language(t) for t in texts]
    with ThreadPoolExecutor(max_workers=4) as pool:
        assert list(pool.map(detect_language, texts)) == sequential


def test_script_counts() -> None:
    counts = script_counts("abc Ωμέγα 日本 かな 한국 नमस्ते")
    assert counts["Latin"] == 3
    assert counts["Greek"] == 5
    assert counts["Han"] == 2
    assert counts["Kana"] == 2
    assert counts["Hangul"] == 2
    assert counts["Devanagari"] == 6  # vowel signs and virama count with their letters
