"""The label scheme, parsed from ``annotation/labeling_config.xml``.

The XML file is the single source of truth for labels. Every other stage asks
:func:`load_scheme` for layers, labels, relation labels and per-region choices
instead of listing them again, and reaches the layers it treats specially
through the scheme's roles (:attr:`Scheme.entity`, :attr:`Scheme.zone`,
:attr:`Scheme.attribution`), never through their names.

Roles are attributes Label Studio ignores: ``role`` on a ``<Labels>`` names its
:class:`LayerRole`, ``role`` on a label of the attribution layer its
:class:`AttributionRole`, and every ``<Relation>`` names the labels at its two
ends in ``from`` and ``to``. The attribution's quote type is the one per-region
``<Choices>``, shown for the content label. A missing or repeated role is an
error at parse time, naming the config.

A label, a relation label or a choice is one word: the exports write it as one
(the IOB tag ``B-LABEL`` is a CoNLL column, a BRAT type or attribute value is a
word of its line), so one holding white space is refused at parse time too.
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field, replace
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import TypeVar

from khabar.foundation import export_files
from khabar.foundation.errors import KhabarError

R = TypeVar("R", bound=StrEnum)
T = TypeVar("T")


class LayerRole(StrEnum):
    """What a span layer is for: named entities, page zones, or reported speech."""

    ENTITY = "entity"
    ZONE = "zone"
    ATTRIBUTION = "attribution"


class AttributionRole(StrEnum):
    """What a label of the attribution layer marks: what was said, who said it, the reporting verb."""

    CONTENT = "content"
    SOURCE = "source"
    CUE = "cue"


@dataclass(frozen=True)
class Layer:
    """One ``Labels`` control: a span layer such as ``entity``."""

    name: str
    labels: tuple[str, ...]
    colors: tuple[str, ...]
    hotkeys: tuple[str | None, ...]


@dataclass(frozen=True)
class RelationRule:
    """A relation label and the labels its two ends must carry."""

    label: str
    layer: str
    from_label: str
    to_label: str


@dataclass(frozen=True)
class RegionChoices:
    """A per-region ``Choices`` control shown for one label of one layer."""

    name: str
    choices: tuple[str, ...]
    layer: str
    label: str


@dataclass(frozen=True)
class Attribution:
    """The reported-speech layer: its three labels, the quote type of a content and the two relations from it."""

    layer: Layer
    content: str
    source: str
    cue: str
    quote_type: RegionChoices
    source_relation: RelationRule  # content → source
    cue_relation: RelationRule  # content → cue

    def label(self, role: AttributionRole) -> str:
        """The label that plays ``role``."""
        return {AttributionRole.CONTENT: self.content, AttributionRole.SOURCE: self.source, AttributionRole.CUE: self.cue}[role]


@dataclass(frozen=True)
class Scheme:
    text_name: str
    layers: tuple[Layer, ...]
    relations: tuple[RelationRule, ...]
    region_choices: tuple[RegionChoices, ...]
    sha256: str
    entity: Layer
    zone: Layer
    attribution: Attribution

    @property
    def layer_names(self) -> tuple[str, ...]:
        return tuple(layer.name for layer in self.layers)

    def layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KhabarError(f"unknown layer {name!r}; the scheme has {', '.join(self.layer_names)}")

    def labels(self, layer: str) -> tuple[str, ...]:
        return self.layer(layer).labels

    @property
    def relation_labels(self) -> tuple[str, ...]:
        return tuple(rule.label for rule in self.relations)

    def relation(self, label: str) -> RelationRule:
        for rule in self.relations:
            if rule.label == label:
                return rule
        raise KhabarError(f"unknown relation label {label!r}; the scheme has {', '.join(self.relation_labels)}")

    def choices(self, name: str) -> RegionChoices:
        for choice in self.region_choices:
            if choice.name == name:
                return choice
        raise KhabarError(f"unknown choices control {name!r}")

    @property
    def control_names(self) -> tuple[str, ...]:
        """Every ``from_name`` a result of this config can carry."""
        return self.layer_names + tuple(c.name for c in self.region_choices)


def parse_scheme(xml_text: str, *, source: str = "labeling_config.xml") -> Scheme:
    """Parse a Label Studio labeling config into a :class:`Scheme`."""
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as exc:
        raise KhabarError(f"{source}: not well-formed XML: {exc}") from None
    text_name = _text_name(root, source)
    found = _layers(root, text_name, source)
    found.require_every_role(source)
    attribution_layer = found.layer_roles[LayerRole.ATTRIBUTION]
    content = found.label_roles[AttributionRole.CONTENT]
    region_choices = _region_choices(root, source)
    quote_type = _quote_type(region_choices, attribution_layer, content, source)
    relations = _relations(root, attribution_layer, source)
    return Scheme(
        text_name=text_name,
        layers=tuple(found.layers),
        relations=tuple(relations),
        region_choices=tuple(region_choices),
        sha256=hashlib.sha256(xml_text.encode("utf-8")).hexdigest(),
        entity=found.layer_roles[LayerRole.ENTITY],
        zone=found.layer_roles[LayerRole.ZONE],
        attribution=Attribution(
            layer=attribution_layer,
            content=content,
            source=found.label_roles[AttributionRole.SOURCE],
            cue=found.label_roles[AttributionRole.CUE],
            quote_type=quote_type,
            source_relation=_relation(relations, content, found.label_roles[AttributionRole.SOURCE], source),
            cue_relation=_relation(relations, content, found.label_roles[AttributionRole.CUE], source),
        ),
    )


def _text_name(root: ET.Element, source: str) -> str:
    """The name of the config's one ``<Text>``."""
    texts = root.findall(".//Text")
    if len(texts) != 1:
        raise KhabarError(f"{source}: expected exactly one <Text>, found {len(texts)}")
    return texts[0].get("name", "")


@dataclass
class _FoundLayers:
    """The ``<Labels>`` controls in the config's order, and the roles they and their labels play."""

    layers: list[Layer] = field(default_factory=list)
    layer_roles: dict[LayerRole, Layer] = field(default_factory=dict)
    label_roles: dict[AttributionRole, str] = field(default_factory=dict)

    def require_every_role(self, source: str) -> None:
        """Every layer role and every attribution label role is played, or one error lists the missing ones."""
        missing = [f"layer role={role.value!r}" for role in LayerRole if role not in self.layer_roles]
        missing += [f"attribution label role={role.value!r}" for role in AttributionRole if role not in self.label_roles]
        if missing:
            raise KhabarError(f"{source}: no {', no '.join(missing)}")


def _layers(root: ET.Element, text_name: str, source: str) -> _FoundLayers:
    """Every ``<Labels>`` as a :class:`Layer`, with the roles marked on it and on its labels."""
    found = _FoundLayers()
    for control in root.iter("Labels"):
        name = control.get("name", "")
        if control.get("toName") != text_name:
            raise KhabarError(f"{source}: <Labels name={name!r}> does not point at <Text name={text_name!r}>")
        labels = control.findall("Label")
        values = tuple(label.get("value", "") for label in labels)
        if len(set(values)) != len(values) or "" in values:
            raise KhabarError(f"{source}: layer {name!r} has empty or repeated labels")
        for value in values:
            _one_word(value, f"<Label value={value!r}> of layer {name!r}", source)
        layer = Layer(
            name=name,
            labels=values,
            colors=tuple(label.get("background", "") for label in labels),
            hotkeys=tuple(label.get("hotkey") for label in labels),
        )
        found.layers.append(layer)
        role = _role(LayerRole, control.get("role"), f"<Labels name={name!r}>", source)
        if role is not None:
            _assign(found.layer_roles, role, layer, source)
            if role is LayerRole.ATTRIBUTION:
                _label_roles(labels, name, found.label_roles, source)
    return found


def _label_roles(labels: list[ET.Element], layer: str, label_roles: dict[AttributionRole, str], source: str) -> None:
    """The attribution roles marked on the labels of the attribution layer, into ``label_roles``."""
    for label in labels:
        what = f"<Label value={label.get('value')!r}> of layer {layer!r}"
        label_role = _role(AttributionRole, label.get("role"), what, source)
        if label_role is not None:
            _assign(label_roles, label_role, label.get("value", ""), source)


def _region_choices(root: ET.Element, source: str) -> list[RegionChoices]:
    """The one per-region ``<Choices>``, inside the ``<View>`` that says when it shows."""
    region_choices = []
    for view in root.iter("View"):
        choices = view.find("Choices")
        if choices is None or choices.get("perRegion") != "true":
            continue
        values = tuple(c.get("value", "") for c in choices.findall("Choice"))
        for value in values:
            _one_word(value, f"<Choice value={value!r}>", source)
        region_choices.append(
            RegionChoices(
                name=choices.get("name", ""),
                choices=values,
                layer=view.get("whenTagName", ""),
                label=view.get("whenLabelValue", ""),
            )
        )
    if len(region_choices) != 1:
        raise KhabarError(f"{source}: expected one per-region <Choices> inside a <View visibleWhen=...>")
    return region_choices


def _quote_type(region_choices: list[RegionChoices], attribution_layer: Layer, content: str, source: str) -> RegionChoices:
    """The per-region choices, which must be shown for the attribution's content label."""
    quote_type = region_choices[0]
    if (quote_type.layer, quote_type.label) != (attribution_layer.name, content):
        raise KhabarError(
            f"{source}: per-region choices {quote_type.name!r} point at {quote_type.layer}/{quote_type.label}, "
            f"not at the content label {attribution_layer.name}/{content}"
        )
    return quote_type


def _relations(root: ET.Element, attribution_layer: Layer, source: str) -> list[RelationRule]:
    """Every ``<Relation>``, whose two ends must be labels of the attribution layer."""
    relations = []
    for element in root.iter("Relation"):
        value = element.get("value", "")
        _one_word(value, f"<Relation value={value!r}>", source)
        ends = element.get("from", ""), element.get("to", "")
        unknown = [end for end in ends if end not in attribution_layer.labels]
        if unknown:
            raise KhabarError(
                f"{source}: <Relation value={value!r}> needs from= and to= labels of layer {attribution_layer.name!r}, "
                f"found {', '.join(repr(end) for end in unknown)}"
            )
        relations.append(RelationRule(label=value, layer=attribution_layer.name, from_label=ends[0], to_label=ends[1]))
    return relations


def _one_word(value: str, element: str, source: str) -> None:
    """Refuse a label, relation label or choice holding white space (see the module's docstring)."""
    if any(character.isspace() for character in value):
        raise KhabarError(
            f"{source}: {element} holds white space: a label, relation or choice is one word, as the IOB tags "
            "(B-LABEL), CoNLL columns and BRAT lines write it"
        )


def _role(kind: type[R], value: str | None, element: str, source: str) -> R | None:
    if value is None:
        return None
    try:
        return kind(value)
    except ValueError:
        raise KhabarError(f"{source}: {element} has role={value!r}; the roles are {', '.join(r.value for r in kind)}") from None


def _assign(found: dict[R, T], role: R, value: T, source: str) -> None:
    if role in found:
        raise KhabarError(f"{source}: role={role.value!r} is given twice")
    found[role] = value


def _relation(relations: list[RelationRule], from_label: str, to_label: str, source: str) -> RelationRule:
    matches = [r for r in relations if (r.from_label, r.to_label) == (from_label, to_label)]
    if len(matches) != 1:
        raise KhabarError(f"{source}: expected one <Relation from={from_label!r} to={to_label!r}>, found {len(matches)}")
    return matches[0]


#: The layer names of the configs written before roles were marked (the releases up to 2.x): the one place
#: they are still spelt out, to read the config a published build carries.
UNMARKED_LAYER_ROLES = {"entity": LayerRole.ENTITY, "zone": LayerRole.ZONE}


def parse_unmarked_scheme(xml_text: str, *, source: str) -> Scheme:
    """A config written before roles were marked, read with the conventions it followed: the layers
    ``entity`` and ``zone``; the attribution layer and its content label named by the per-region
    choices' ``whenTagName``/``whenLabelValue``; relation ``x`` from the content label to label ``X``.
    A config that marks any role is parsed as it is."""
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as exc:
        raise KhabarError(f"{source}: not well-formed XML: {exc}") from None
    if any(element.get("role") is not None for element in root.iter()):
        return parse_scheme(xml_text, source=source)
    views = [v for v in root.iter("View") if (c := v.find("Choices")) is not None and c.get("perRegion") == "true"]
    anchor = (views[0].get("whenTagName"), views[0].get("whenLabelValue")) if len(views) == 1 else (None, None)
    for control in root.iter("Labels"):
        name = control.get("name", "")
        role = LayerRole.ATTRIBUTION if name == anchor[0] else UNMARKED_LAYER_ROLES.get(name)
        if role is not None:
            control.set("role", role.value)
        if role is LayerRole.ATTRIBUTION:
            for relation in root.iter("Relation"):
                relation.set("from", anchor[1] or "")
                relation.set("to", relation.get("value", "").upper())
            targets = {r.get("to"): r.get("value", "") for r in root.iter("Relation")}
            for label in control.findall("Label"):
                value = label.get("value")
                label_role = AttributionRole.CONTENT.value if value == anchor[1] else targets.get(value)
                if label_role is not None:
                    label.set("role", label_role)
    scheme = parse_scheme(ET.tostring(root, encoding="unicode"), source=source)
    return replace(scheme, sha256=hashlib.sha256(xml_text.encode("utf-8")).hexdigest())


def load_scheme(path: Path | None = None) -> Scheme:
    """The scheme of a labeling config: by default the dataset repository's (cached)."""
    from khabar.foundation.paths import repo

    return _load_scheme(path or repo().labeling_config)


def read_config(path: Path) -> str:
    """The text of a labeling config, read as every input is (a regular UTF-8 file, else one line naming it,
    never waited on); as a repository's text (line ends read as ``read_text`` reads them, no byte order mark), so that
    a config checked out with CRLF, or saved with a BOM, has the scheme, and the sha256, of the same config with LF."""
    return export_files.read_regular_text(path, repository_text=True)


@cache
def _load_scheme(path: Path) -> Scheme:
    return parse_scheme(read_config(path), source=str(path))
