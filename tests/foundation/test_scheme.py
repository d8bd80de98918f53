import hashlib
import re

import pytest

from khabar.annotation.scheme import load_scheme, parse_scheme, parse_unmarked_scheme
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


def test_roles_name_the_layers_labels_and_relations():
    scheme = load_scheme()
    assert (scheme.entity.name, scheme.zone.name) == ("entity", "zone")
    roles = scheme.attribution
    assert (roles.layer.name, roles.content, roles.source, roles.cue) == ("attribution", "CONTENT", "SOURCE", "CUE")
    assert roles.quote_type == scheme.choices("quote_type")
    assert (roles.source_relation, roles.cue_relation) == (scheme.relation("source"), scheme.relation("cue"))


def _renamed(**names: str) -> str:
    """The repository's config with layers, labels and relations renamed (roles kept)."""
    xml = repo().labeling_config.read_text(encoding="utf-8")
    for old, new in names.items():
        xml = re.sub(f'(?<!role=)"{old}"', f'"{new}"', xml)
    return xml


def test_roles_follow_the_config_not_the_names():
    # every name the code used to spell out, renamed: the roles still find them
    xml = _renamed(entity="ner", zone="region", attribution="speech", CONTENT="SAID", SOURCE="WHO", CUE="VERB",
                   source="said_by", cue="said_with", quote_type="style")
    scheme = parse_scheme(xml)
    assert (scheme.entity.name, scheme.zone.name, scheme.attribution.layer.name) == ("ner", "region", "speech")
    roles = scheme.attribution
    assert (roles.content, roles.source, roles.cue, roles.quote_type.name) == ("SAID", "WHO", "VERB", "style")
    assert (roles.source_relation.label, roles.source_relation.from_label, roles.source_relation.to_label) == ("said_by", "SAID", "WHO")
    assert (roles.cue_relation.label, roles.cue_relation.to_label) == ("said_with", "VERB")


@pytest.mark.parametrize(
    "old, new, problem",
    [
        (' role="zone"', "", "no layer role='zone'"),
        (' role="cue"', "", "no attribution label role='cue'"),
        ('role="zone"', 'role="entity"', "role='entity' is given twice"),
        ('role="zone"', 'role="zones"', "has role='zones'; the roles are entity, zone, attribution"),
        ('from="CONTENT" to="SOURCE"', 'from="CONTENT"', "<Relation value='source'> needs from= and to= labels of layer 'attribution', found ''"),
        ('to="CUE"', 'to="PERS"', "found 'PERS'"),
        ('<Relation value="cue" from="CONTENT" to="CUE" background="#2ca02c"/>', "", "expected one <Relation from='CONTENT' to='CUE'>, found 0"),
        ('whenLabelValue="CONTENT"', 'whenLabelValue="SOURCE"', "point at attribution/SOURCE, not at the content label attribution/CONTENT"),
    ],
)
def test_a_missing_or_broken_role_is_refused_naming_the_config(old, new, problem):
    xml = repo().labeling_config.read_text(encoding="utf-8")
    assert xml.count(old) == 1
    with pytest.raises(KhabarError, match=re.escape(problem)) as caught:
        parse_scheme(xml.replace(old, new), source="my_config.xml")
    assert str(caught.value).startswith("my_config.xml: ") and "\n" not in str(caught.value)


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


def test_a_config_written_before_roles_is_read_with_its_conventions():
    """Builds published before roles were marked carry such a config: ``khabar export`` still reads it."""
    marked = repo().labeling_config.read_text(encoding="utf-8")
    unmarked = re.sub(r' (?:role|from|to)="[^"]*"', "", marked)
    assert "role=" not in unmarked and 'from="' not in unmarked
    with pytest.raises(KhabarError, match="no layer role='entity'"):
        parse_scheme(unmarked)
    old, new = parse_unmarked_scheme(unmarked, source="old.xml"), load_scheme()
    assert (old.entity, old.zone, old.attribution, old.relations) == (new.entity, new.zone, new.attribution, new.relations)
    assert old.sha256 == hashlib.sha256(unmarked.encode("utf-8")).hexdigest()  # the hash of the file as it is
    assert parse_unmarked_scheme(marked, source="new.xml") == new  # a config with roles is read as it is
