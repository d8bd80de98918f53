"""Tokens come from the text alone; proclitics before the article are split off."""

from __future__ import annotations

from khabar.model.corpus import Alignment, CharEntity, Document, document_sentences, nesting_levels
from khabar.model.tokens import sentences, tokenize


def test_tokens_are_slices_of_the_text():
    text = "قال وزير الخارجية (العراقي)، والعراق بالعاصمة: 2024/09/01."
    tokens = tokenize(text, split_proclitics=True)
    assert all(text[t.start : t.end] == t.text for t in tokens)
    assert [t.text for t in tokens][:6] == ["قال", "وزير", "الخارجية", "(", "العراقي", ")"]
    assert ["و", "العراق", "ب", "العاصمة"] == [t.text for t in tokens][7:11]


def test_words_that_only_begin_with_a_proclitic_letter_stay_whole():
    assert [t.text for t in tokenize("وزير بغداد لبنان والي", split_proclitics=True)] == ["وزير", "بغداد", "لبنان", "والي"]
    assert [t.text for t in tokenize("والعراق", split_proclitics=False)] == ["والعراق"]


def test_sentences_end_at_full_stops_and_line_breaks():
    groups = sentences("جملة أولى. جملة ثانية\nسطر ثالث", split_proclitics=True)
    assert [[t.text for t in g] for g in groups] == [["جملة", "أولى", "."], ["جملة", "ثانية"], ["سطر", "ثالث"]]


def test_an_entity_after_a_proclitic_aligns_to_the_word_and_nesting_gives_levels():
    text = "زار وزير خارجية العراق بغداد"
    document = Document("d", text, (CharEntity(4, 22, "OCC"), CharEntity(16, 22, "GPE"), CharEntity(23, 28, "GPE")))
    alignment = Alignment()
    [sentence] = document_sentences(document, alignment, split_proclitics=True)
    assert sentence.tags == (("O", "B-OCC", "I-OCC", "I-OCC", "B-GPE"), ("O", "O", "O", "B-GPE", "O"))
    assert alignment.kept == 3

    # Wojood keeps the proclitic inside the entity; split off, it stays outside as the guidelines say.
    wojood_style = Document("w", "والعراق", (CharEntity(0, 7, "GPE"),))
    [sentence] = document_sentences(wojood_style, Alignment(), split_proclitics=True)
    assert sentence.tags == (("O", "B-GPE"),)


def test_an_entity_that_crosses_one_of_its_level_is_dropped_and_counted():
    levels, crossing = nesting_levels([(0, 3, "ORG"), (2, 5, "GPE"), (1, 2, "PERS")])
    assert levels == [[(0, 3, "ORG")], [(1, 2, "PERS")]]
    assert crossing == 1
