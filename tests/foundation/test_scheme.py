import pytest

from khabar.annotation.scheme import load_scheme, parse_scheme
from khabar.foundation.errors import KhabarError
from khabar.foundation.paths import repo

# The scheme the project promises (Wojood's 21 entity types, the attribution and zone layers), written out once
# here on purpose: this test is the check that the config (the single source of truth) says what was promised.
WOJOOD = "PERS NORP OCC ORG GPE LOC FAC EVENT DATE TIME LANGUAGE WEBSITE LAW PRODUCT CARDINAL ORDINAL PERCENT QUANTITY UNIT MONEY CURR".split()


def test_layers_and_labels_match_the_design():
    scheme = load_scheme()
    assert scheme.layer_names == ("entity", "attribution", "zone")
    assert list(scheme.labels("entity")) == WOJOOD
    assert scheme.labels("attribution") == ("CONTENT", "SOURCE", "CUE")
    assert scheme.labels("zone") == ("TITLE", "CAPTION", "META", "RELATED")


def test_relations_and_choices():
    scheme = load_scheme()
    assert [(r.label, r.from_label, r.to_label) for r in scheme.relations] == [
        ("source", "CONTENT", "SOURCE"),
        ("cue", "CONTENT", "CUE"),
    ]
    quote_type = scheme.choices("quote_type")
    assert quote_type.choices == ("direct", "indirect", "mixed")
    assert (quote_type.layer, quote_type.label) == ("attribution", "CONTENT")
    assert scheme.control_names == ("entity", "attribution", "zone", "quote_type")


def test_entity_colours_are_distinct_and_hotkeys_unique():
    scheme = load_scheme()
    colours = scheme.layer("entity").colors
    assert len(set(colours)) == len(colours) and all(colours)
    hotkeys = [k for layer in scheme.layers for k in layer.hotkeys if k]
    assert len(hotkeys) == len(set(hotkeys))


def test_text_is_shown_right_to_left():
    xml = repo().labeling_config.read_text(encoding="utf-8")
    assert "direction: rtl" in xml
    assert '<View className="khabar-rtl">\n    <Text name="text"' in xml


def test_scheme_hash_follows_the_file():
    xml = repo().labeling_config.read_text(encoding="utf-8")
    assert parse_scheme(xml).sha256 != parse_scheme(xml.replace("PERS", "PER")).sha256


@pytest.mark.parametrize(
    "xml, problem",
    [
        ("<View><Text", "not well-formed"),
        ("<View></View>", "exactly one <Text>"),
        ('<View><Text name="t" value="$text"/><Labels name="e" toName="x"/></View>', "does not point at"),
        (
            '<View><Text name="t" value="$text"/><Labels name="e" toName="t"><Label value="A"/><Label value="A"/></Labels></View>',
            "repeated labels",
        ),
    ],
)
def test_malformed_configs_are_refused_clearly(xml, problem):
    with pytest.raises(KhabarError, match=problem):
        parse_scheme(xml)
