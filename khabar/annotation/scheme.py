"""The label scheme, parsed from ``annotation/labeling_config.xml``.

The XML file is the single source of truth for labels. Every other stage asks
:func:`load_scheme` for layers, labels, relation labels and per-region choices
instead of listing them again.

Relation end points are read from the config by convention: a relation label
``source`` links the region that carries the per-region choices (``CONTENT``,
named by the choices' ``whenLabelValue``) to the label ``SOURCE`` of the same
layer; ``cue`` links it to ``CUE``.
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from khabar.foundation.errors import KhabarError


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
class Scheme:
    text_name: str
    layers: tuple[Layer, ...]
    relations: tuple[RelationRule, ...]
    region_choices: tuple[RegionChoices, ...]
    sha256: str

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

    texts = root.findall(".//Text")
    if len(texts) != 1:
        raise KhabarError(f"{source}: expected exactly one <Text>, found {len(texts)}")
    text_name = texts[0].get("name", "")

    layers = []
    for control in root.iter("Labels"):
        if control.get("toName") != text_name:
            raise KhabarError(f"{source}: <Labels name={control.get('name')!r}> does not point at <Text name={text_name!r}>")
        labels = control.findall("Label")
        values = tuple(label.get("value", "") for label in labels)
        if len(set(values)) != len(values) or "" in values:
            raise KhabarError(f"{source}: layer {control.get('name')!r} has empty or repeated labels")
        layers.append(
            Layer(
                name=control.get("name", ""),
                labels=values,
                colors=tuple(label.get("background", "") for label in labels),
                hotkeys=tuple(label.get("hotkey") for label in labels),
            )
        )

    region_choices = []
    for view in root.iter("View"):
        control = view.find("Choices")
        if control is None or control.get("perRegion") != "true":
            continue
        region_choices.append(
            RegionChoices(
                name=control.get("name", ""),
                choices=tuple(c.get("value", "") for c in control.findall("Choice")),
                layer=view.get("whenTagName", ""),
                label=view.get("whenLabelValue", ""),
            )
        )
    if len(region_choices) != 1:
        raise KhabarError(f"{source}: expected one per-region <Choices> inside a <View visibleWhen=...>")
    anchor = region_choices[0]
    anchor_layer = next((layer for layer in layers if layer.name == anchor.layer), None)
    if anchor_layer is None or anchor.label not in anchor_layer.labels:
        raise KhabarError(f"{source}: per-region choices point at unknown label {anchor.layer}/{anchor.label}")

    relations = []
    for relation in root.iter("Relation"):
        label = relation.get("value", "")
        if label.upper() not in anchor_layer.labels:
            raise KhabarError(
                f"{source}: relation {label!r} has no target label {label.upper()!r} in layer {anchor_layer.name!r}"
            )
        relations.append(RelationRule(label=label, layer=anchor_layer.name, from_label=anchor.label, to_label=label.upper()))

    return Scheme(
        text_name=text_name,
        layers=tuple(layers),
        relations=tuple(relations),
        region_choices=tuple(region_choices),
        sha256=hashlib.sha256(xml_text.encode("utf-8")).hexdigest(),
    )


def load_scheme(path: Path | None = None) -> Scheme:
    """The scheme of a labeling config: by default the dataset repository's (cached)."""
    from khabar.foundation.paths import repo

    return _load_scheme(path or repo().labeling_config)


@cache
def _load_scheme(path: Path) -> Scheme:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise KhabarError(f"cannot read the labeling config: {exc}", file=str(path)) from None
    return parse_scheme(text, source=str(path))
