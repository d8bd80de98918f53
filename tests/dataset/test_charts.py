"""The charts' PNG bytes are those of matplotlib's own tight-box ``savefig``, which draws each figure once more."""

from __future__ import annotations

import io

import matplotlib.pyplot as plt
import pytest

from khabar.annotation.scheme import load_scheme
from khabar.dataset import charts
from khabar.dataset.stats import LabelCount
from tests.cli_support import run_python


def _savefig_tight(figure) -> bytes:
    """The figure as matplotlib renders a tight box: measured after a draw of its own."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=charts.DPI, metadata={"Software": None}, bbox_inches="tight", pad_inches=charts.PAD_INCHES)
    plt.close(figure)
    return buffer.getvalue()


def _label_counts(spans: int) -> list[LabelCount]:
    """Every label of the scheme, the n-th with ``spans`` · n spans (none at all with 0)."""
    labels = [(layer.name, label) for layer in load_scheme().layers for label in layer.labels]
    return [LabelCount(layer, label, spans * n) for n, (layer, label) in enumerate(labels)]


@pytest.mark.parametrize("spans", [0, 1, 1_234_567])
def test_labels_chart_is_the_tight_savefig(spans: int) -> None:
    counts = _label_counts(spans)
    png = charts.labels_per_layer(counts, "Khabar: gold spans per label")
    with plt.rc_context(charts.STYLE):
        assert png == _savefig_tight(charts._labels_figure(counts, "Khabar: gold spans per label"))
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("sources", [1, 3, 12])
def test_sources_chart_is_the_tight_savefig(sources: int) -> None:
    layers = [layer.name for layer in load_scheme().layers]
    per_source = [(f"source-{i}", {layer: (i * 7919 + j * 104729) % 100_000 for j, layer in enumerate(layers)}) for i in range(sources)]
    png = charts.spans_per_source(per_source, layers, "Khabar: gold spans per source")
    with plt.rc_context(charts.STYLE):
        assert png == _savefig_tight(charts._sources_figure(per_source, layers, "Khabar: gold spans per source"))


def _pyplot_figure(figsize: tuple[float, float]):
    """A figure as ``pyplot`` makes it with the Agg backend: managed, numbered, on the backend's canvas."""
    plt.switch_backend("Agg")
    return plt.figure(figsize=figsize)


@pytest.mark.parametrize("spans", [0, 1_234_567])
def test_charts_are_pyplots_to_the_byte(spans: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The charts, drawn without importing pyplot, have the bytes of the same figures made by pyplot."""
    layers = [layer.name for layer in load_scheme().layers]
    per_source = [(f"source-{i}", {layer: (i * 7919 + j * 104729) % 100_000 * min(spans, 1) for j, layer in enumerate(layers)}) for i in range(5)]
    labels = _label_counts(spans)
    own = charts.labels_per_layer(labels, "Khabar"), charts.spans_per_source(per_source, layers, "Khabar")
    monkeypatch.setattr(charts, "_figure", _pyplot_figure)
    opened = len(plt.get_fignums())
    made_by_pyplot = charts.labels_per_layer(labels, "Khabar"), charts.spans_per_source(per_source, layers, "Khabar")
    assert len(plt.get_fignums()) == opened + 2  # the figures were pyplot's
    plt.close("all")
    assert own == made_by_pyplot


def test_the_charts_module_does_not_import_pyplot() -> None:
    code = "import sys\nimport khabar.dataset.charts\nprint('matplotlib.pyplot' in sys.modules)\n"
    assert run_python(code).splitlines()[-1] == "False"
