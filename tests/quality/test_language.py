"""Language ID: the bundled fastText model names the language of short inline texts offline."""

import pytest

from quality.config import QualityConfig, ScorerConfig
from quality.langid import LanguageIdentifier, model_path
from quality.stage import QualityStage, label_columns, quality_columns

# Written for this test: two plain sentences per language about everyday things.
SENTENCES = {
    "en": "The library opens at nine in the morning. Children like to read the picture books there.",
    "de": "Die Bibliothek öffnet um neun Uhr morgens. Die Kinder lesen dort gern die Bilderbücher.",
    "fr": "La bibliothèque ouvre à neuf heures du matin. Les enfants aiment y lire des livres d'images.",
    "es": "La biblioteca abre a las nueve de la mañana. A los niños les gusta leer allí los libros ilustrados.",
    "it": "La biblioteca apre alle nove del mattino. Ai bambini piace leggere i libri illustrati.",
    "nl": "De bibliotheek gaat om negen uur 's ochtends open. Kinderen lezen daar graag prentenboeken.",
    "pl": "Biblioteka jest otwarta od dziewiątej rano. Dzieci lubią tam czytać książki z obrazkami.",
    "pt": "A biblioteca abre às nove da manhã. As crianças gostam de ler os livros ilustrados.",
    "ru": "Библиотека открывается в девять часов утра. Дети любят читать там книги с картинками.",
    "ja": "図書館は朝九時に開きます。子供たちはそこで絵本を読むのが好きです。",
    "zh": "图书馆早上九点开门。孩子们喜欢在那里看图画书。",
}


def test_model_ships_in_the_wheel():
    assert model_path().endswith("lid.176.ftz")


@pytest.mark.parametrize("lang", sorted(SENTENCES))
def test_identifies_inline_sentences(lang):
    code, prob = LanguageIdentifier().detect(SENTENCES[lang])
    assert code == lang and 0.5 < prob <= 1.0


def test_text_without_words_is_undetermined():
    assert LanguageIdentifier().detect(" \n\t ") == ("und", 0.0)


def test_scorer_filters_by_allowed_list_and_confidence():
    cfg = QualityConfig(scorers=[ScorerConfig("language_v1", thresholds={"allowed": ["en", "fr"]})])
    assert "language_score" in quality_columns(cfg)
    assert label_columns(cfg) == ["language"]
    stage = QualityStage(cfg)
    texts = [SENTENCES["en"], SENTENCES["fr"], SENTENCES["de"], "$ ls -l 42 17"]
    results = stage.score_batch(texts)
    assert [r.meta["language"] for r in results[:3]] == ["en", "fr", "de"]
    assert [r.reason for r in results[:3]] == [None, None, "language:not_allowed"]
    assert "language=de" in results[2].detail
    assert results[3].reason in ("language:low_confidence", "language:not_allowed")
    anything = QualityConfig(
        scorers=[ScorerConfig("language_v1", thresholds={"allowed": None, "min_confidence": 0.3})]
    )
    assert QualityStage(anything).score_text(SENTENCES["de"]).reason is None


def test_bad_thresholds_are_config_problems():
    cfg = QualityConfig(
        scorers=[ScorerConfig("language_v1", thresholds={"allowed": "en", "min_confidence": 2})]
    )
    problems = " ".join(cfg.problems())
    assert "allowed must be a list" in problems and "min_confidence must be in [0, 1]" in problems
