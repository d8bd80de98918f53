"""Config drift: the project's labeling config on the server against ``annotation/labeling_config.xml``.

A label added in Label Studio's settings and then used would reach the export
and only ``khabar validate`` would notice; pull and push compare the two
schemes first and stop (exit 2), saying per layer which labels differ.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from khabar.annotation.errors import KhabarError
from khabar.annotation.scheme import Scheme, parse_scheme

if TYPE_CHECKING:
    from label_studio_sdk import LabelStudio


def _vocabulary(scheme: Scheme) -> dict[str, tuple[str, ...]]:
    """Each control's values: a layer's labels, a choices control's choices, the relation labels."""
    found = {f"layer {layer.name}": layer.labels for layer in scheme.layers}
    found |= {f"choices {c.name} (for {c.layer} {c.label})": c.choices for c in scheme.region_choices}
    found["relations"] = tuple(f"{r.label} ({r.from_label}→{r.to_label})" for r in scheme.relations)
    return found


def describe_drift(local: Scheme, server: Scheme) -> list[str]:
    """What the server's scheme adds or removes, per control; empty when they are the same."""
    mine, theirs = _vocabulary(local), _vocabulary(server)
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
    if not lines and local.text_name != server.text_name:
        lines.append(f"the text is {server.text_name!r} on the server, {local.text_name!r} here")
    return lines


def check_config(client: LabelStudio, project_id: int, local_xml: str, *, source: str) -> None:
    """Stop with exit 2 when the project's labeling config is not the local scheme."""
    server_xml = client.projects.get(id=project_id).label_config or ""
    if server_xml.strip() == local_xml.strip():
        return
    local = parse_scheme(local_xml, source=source)
    try:
        server = parse_scheme(server_xml, source="the project's labeling config")
    except KhabarError as exc:
        raise KhabarError(f"the project's labeling config on the server is not a khabar scheme ({exc.message})", file=source) from None
    lines = describe_drift(local, server)
    if lines:
        raise KhabarError(
            "the project's labeling config on the server differs from this file: " + "; ".join(lines)
            + " — make them the same (edit this file and run khabar studio sync, or undo the change in Label Studio's settings)",
            file=source,
        )
