"""entity_no_crossing and zone_no_overlap find every pair, whatever buckets of positions the two regions span."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from khabar.validation.checks import PAIR_BUCKET, _with_pairs

#: regions of two annotations, from a few characters to several buckets long
REGIONS = st.lists(
    st.tuples(st.integers(0, 1), st.integers(0, 4 * PAIR_BUCKET), st.integers(1, 3 * PAIR_BUCKET)), min_size=1, max_size=12,
    unique_by=lambda region: (region[0], region[1], region[1] + region[2]),
)


def frame(regions: list[tuple[int, int, int]]) -> pl.DataFrame:
    return pl.DataFrame({
        "row": list(range(len(regions))), "key": [key for key, _, _ in regions], "start": [start for _, start, _ in regions],
        "end": [start + length for _, start, length in regions], "region_id": [f"r{n}" for n in range(len(regions))],
        "layer": ["entity"] * len(regions), "placed_text": ["x"] * len(regions),
    })


def first_partners(spans: pl.DataFrame, pairs: set[tuple[int, int]]) -> dict[int, tuple[str, str]]:
    """Each row of a pair (either side) → its partner of the smallest "start-end", as the rule names it."""
    rows = spans.rows(named=True)
    found: dict[int, list[tuple[str, str]]] = {}
    for a, b in pairs:
        for one, other in ((a, b), (b, a)):
            found.setdefault(one, []).append((f"{rows[other]['start']}-{rows[other]['end']}", rows[other]["region_id"]))
    return {row: min(partners) for row, partners in found.items()}


@settings(max_examples=300, deadline=None)
@given(REGIONS)
def test_every_crossing_and_overlapping_pair_is_found(regions):
    spans = frame(regions)
    rows = spans.rows(named=True)
    same = [(a, b) for a in rows for b in rows if a["key"] == b["key"] and a["row"] != b["row"]]
    crossing = {(a["row"], b["row"]) for a, b in same if a["start"] < b["start"] < a["end"] < b["end"]}
    overlapping = {
        (a["row"], b["row"]) for a, b in same
        if (a["start"], a["row"]) < (b["start"], b["row"]) and b["start"] < a["end"]
    }
    for name, crossing_only, pairs in (("crosses", True, crossing), ("overlaps", False, overlapping)):
        flagged = _with_pairs(spans, "entity", name, crossing=crossing_only)
        expected = first_partners(spans, pairs)
        got = {
            row: (span, region)
            for row, region, span in flagged.select("row", f"{name}_region", f"{name}_span").rows()
            if region is not None
        }
        assert got == {row: (span, region) for row, (span, region) in expected.items()}
