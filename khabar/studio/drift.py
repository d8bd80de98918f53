"""Config drift: the project's labeling config on the server against ``annotation/labeling_config.xml``.

A label added in Label Studio's settings and then used would reach the export
and only ``khabar validate`` would notice; pull and push compare the two
schemes first and stop (exit 2), saying per layer which labels differ.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

from khabar.foundation.errors import KhabarError
from khabar.studio.project import labeling_config

if TYPE_CHECKING:
    from label_studio_sdk import LabelStudio

#: Control tag → the tag of its values and how a message names it.
_CONTROLS = {"Labels": ("Label", "layer"), "Choices": ("Choice", "choices"), "Relations": ("Relation", "relations")}


def vocabulary(xml_text: str, *, source: str) -> dict[str, tuple[str, ...]]:
    """Each control's values (a layer's labels, a choices control's choices, the relation labels).

    Read from the XML itself rather than :func:`khabar.annotation.scheme.parse_scheme`,
    so that a config the scheme would refuse (a label a relation needs was removed)
    is still described.
    """
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as exc:
        raise KhabarError(f"the labeling config is not XML ({exc})", file=source) from None
    found: dict[str, tuple[str, ...]] = {}
    for element in root.iter():
        if element.tag in _CONTROLS:
            value_tag, kind = _CONTROLS[element.tag]
            name = f"{kind} {element.get('name')}" if kind != "relations" else kind
            found[name] = tuple(str(v.get("value")) for v in element.iter(value_tag))
    return found


def describe_drift(local_xml: str, server_xml: str, *, source: str) -> list[str]:
    """What the server's config adds or removes, per control; empty when they hold the same values."""
    mine = vocabulary(local_xml, source=source)
    theirs = vocabulary(server_xml, source="the project's labeling config on the server")
    lines = []
    for control in [*mine, *(c for c in theirs if c not in mine)]:
        if control not in theirs:
            lines.append(f"{control}: missing on the server")
        elif control not in mine:
            lines.append(f"{control}: only on the server, with {', '.join(theirs[control])}")
        else:
            added = [v for v in theirs[control] if v not in mine[control]]
            removed = [v for v in mine[control] if v not in theirs[control]]
            if added:
                lines.append(f"{control}: labels added on the server: {', '.join(added)}")
            if removed:
                lines.append(f"{control}: labels removed on the server: {', '.join(removed)}")
    return lines


def check_config(client: LabelStudio, project_id: int, local_xml: str, *, source: str) -> None:
    """Stop with exit 2 when the project's labeling config does not hold the local file's labels."""
    server_xml = labeling_config(client, project_id)
    if server_xml.strip() == local_xml.strip():
        return
    lines = describe_drift(local_xml, server_xml, source=source)
    if lines:
        raise KhabarError(
            "the project's labeling config on the server differs from this file: " + "; ".join(lines)
            + " — make them the same (edit this file and run khabar studio sync, or undo the change in Label Studio's settings)",
            file=source,
        )
