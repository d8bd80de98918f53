"""The two PNG charts of the card: labels per layer, spans per source.

Rendered on matplotlib's Agg canvas at a fixed size, font and DPI, with the
PNG's ``Software`` text chunk dropped, so the same counts give the same bytes, whatever matplotlibrc the user
has: every rc setting is matplotlib's own default but for the project's few (:data:`STYLE`).
A figure is made on its own canvas, without ``matplotlib.pyplot``: no backend is
chosen for the whole process on import, and no figure is kept in pyplot's registry
(a figure whose ``savefig`` raised was left open there); the PNG bytes are those of
the same figure made by pyplot (tested). Not a speed-up: pyplot's own import is 0.02 s
CPU once matplotlib's figure and Agg modules are loaded (best of 6).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any, cast

from matplotlib import rc_context, rcParamsDefault
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from khabar.dataset.stats import LabelCount

LAYER_COLORS = ("#4363d8", "#d62728", "#7f7f7f", "#2ca02c", "#f58231")
#: every rc setting a chart is drawn with: the settings matplotlib loaded on import are a user's matplotlibrc (in the
#: current folder, named by MATPLOTLIBRC, in MPLCONFIGDIR or ~/.config/matplotlib) over the defaults, and one with a
#: red background and a larger font changed both PNGs' bytes. The defaults' ``backend`` is the "choose one when
#: needed" marker, which ``rc_context`` leaves as it was: the charts draw on their own Agg canvas whatever it is.
STYLE: dict[Any, Any] = {
    **rcParamsDefault,
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
DPI = 110
PAD_INCHES = 0.15


def _png(figure: Figure) -> bytes:
    """The figure as ``savefig(bbox_inches="tight", pad_inches=PAD_INCHES)`` writes it, to the byte, with one draw
    fewer: ``savefig`` draws the whole figure unseen before it measures the tight box, and again to render it; the
    box is measured here without that first draw (1M news, both charts: 0.48 → 0.42 s CPU). The layout engine
    ``tight_layout`` leaves behind would make ``savefig`` draw first all the same: it is taken off (the layout stays)."""
    figure.set_layout_engine(None)
    figure.set_dpi(DPI)  # as savefig sets it before it measures and draws
    tight = figure.get_tightbbox(cast(FigureCanvasAgg, figure.canvas).get_renderer()).padded(PAD_INCHES)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None}, bbox_inches=tight)
    return buffer.getvalue()


def _figure(figsize: tuple[float, float]) -> Figure:
    """A figure on an Agg canvas, as ``pyplot.figure`` makes it with the Agg backend (less its figure manager)."""
    figure = Figure(figsize=figsize)
    FigureCanvasAgg(figure)
    return figure


def _spans(n: int) -> str:
    return f"{n} span" + ("" if n == 1 else "s")


def _empty_note(axis, total: int, note: str) -> None:
    if total == 0:
        axis.text(0.5, 0.5, note, transform=axis.transAxes, ha="center", va="center", color="#888888", fontsize=10)


def labels_per_layer(counts: Sequence[LabelCount], title: str) -> bytes:
    with rc_context(STYLE):
        return _png(_labels_figure(counts, title))


def _labels_figure(counts: Sequence[LabelCount], title: str) -> Figure:
    layers = list(dict.fromkeys(c.layer for c in counts))
    sizes = [sum(1 for c in counts if c.layer == layer) for layer in layers]
    figure = _figure(figsize=(10, 5.2))
    axes = figure.subplots(1, len(layers), gridspec_kw={"width_ratios": [max(s, 5) for s in sizes]}, squeeze=False)
    for axis, layer, color in zip(axes[0], layers, LAYER_COLORS):
        rows = [c for c in counts if c.layer == layer]
        values = [c.spans for c in rows]
        bars = axis.bar(range(len(rows)), values, color=color, width=0.7)
        axis.bar_label(bars, labels=[str(v) if v else "" for v in values], fontsize=7, padding=2)
        axis.set_xticks(range(len(rows)), [c.label for c in rows], rotation=90)
        axis.set_title(f"{layer}\n{_spans(sum(values))}")
        axis.set_ylim(0, max(values + [1]) * 1.15)
        axis.yaxis.get_major_locator().set_params(integer=True)
        _empty_note(axis, sum(values), "none yet")
    axes[0][0].set_ylabel("spans")
    figure.suptitle(title + ("" if any(c.spans for c in counts) else " (no annotations yet)"), fontsize=11)
    figure.tight_layout()
    return figure


def spans_per_source(per_source: Sequence[tuple[str, dict[str, int]]], layers: Sequence[str], title: str) -> bytes:
    """``per_source``: (source, {layer: spans}) in display order."""
    with rc_context(STYLE):
        return _png(_sources_figure(per_source, layers, title))


def _sources_figure(per_source: Sequence[tuple[str, dict[str, int]]], layers: Sequence[str], title: str) -> Figure:
    figure = _figure(figsize=(8, 0.5 * len(per_source) + 1.6))
    axis = figure.subplots()
    names = [source for source, _ in per_source]
    left = [0] * len(per_source)
    for layer, color in zip(layers, LAYER_COLORS):
        values = [counts.get(layer, 0) for _, counts in per_source]
        axis.barh(names, values, left=left, color=color, label=layer, height=0.6)
        left = [a + b for a, b in zip(left, values)]
    for y, total in enumerate(left):
        axis.text(total, y, f" {total}", va="center", fontsize=8)
    axis.invert_yaxis()
    axis.set_xlim(0, max(left + [1]) * 1.12)
    axis.set_xlabel("spans")
    axis.set_title(title, fontsize=11)
    axis.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16 - 0.6 / len(per_source)), frameon=False, ncols=len(layers))
    cast(MaxNLocator, axis.xaxis.get_major_locator()).set_params(integer=True)  # the default AutoLocator is one
    _empty_note(axis, sum(left), "no annotated spans yet")
    figure.tight_layout()
    return figure
