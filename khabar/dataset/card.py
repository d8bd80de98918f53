"""The dataset card: ``README.md`` of the build, YAML metadata + the datasheet.

The YAML carries ``configs`` (data files per split) and ``dataset_info`` (so
``load_dataset`` keeps the ClassLabel names without reading parquet metadata);
nothing in it depends on the time of the build.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import yaml

from khabar.dataset.features import Features
from khabar.dataset.layout import ConfigName
from khabar.dataset.release import Release


class Shard(NamedTuple):
    """One written parquet file of a config: its split, rows, arrow bytes and file bytes."""

    split: str
    rows: int
    arrow_bytes: int
    file_bytes: int


CONFIG_ROWS: dict[ConfigName, str] = {
    "documents": "one document with its entities (with `normalized` form and `entity_id`), attributions, zones and relations (character offsets; every span with its `zone`)",
    "tokens": "one sentence, cut from the text alone: tokens, IOB2 `ner_tags` (outermost entities) and `nested_ner_tags` (every level)",
    "quotes": "one quoted CONTENT with its quote type, `zone`, `cluster_id` and `source_ambiguous`, its sources (with the entity each names) and cues",
}
VARIABLE: dict[ConfigName, str] = {"tokens": "sentences"}  # the name a load in the card example is bound to
LICENSE_FILE = "LICENSE.md"
LABELS_CHART = "images/labels_per_layer.png"
SOURCES_CHART = "images/spans_per_source.png"


def size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < limit:
            return name
    return "1M<n<10M"


def metadata(
    release: Release,
    features: Mapping[ConfigName, Features],
    splits: Mapping[ConfigName, Sequence[Shard]],
    documents: int,
) -> dict:
    """``splits``: config → its written shards, in split order."""
    # each config's ``datasets.DatasetInfo._to_yaml_dict()``: its fields in the order DatasetInfo declares them
    infos = [
        {
            "features": feats.yaml_list(),
            "config_name": config,
            "splits": [{"name": shard.split, "num_bytes": shard.arrow_bytes, "num_examples": shard.rows} for shard in splits[config]],
            "download_size": sum(shard.file_bytes for shard in splits[config]),
            "dataset_size": sum(shard.arrow_bytes for shard in splits[config]),
        }
        for config, feats in features.items()
    ]
    meta: dict = {
        "pretty_name": release.pretty_name,
        "license": release.license,
    }
    if release.license_name:
        meta["license_name"] = release.license_name
    if release.license_text:
        meta["license_link"] = LICENSE_FILE
    meta |= {
        "language": ["ar"],
        "multilinguality": ["monolingual"],
        "language_creators": ["found"],
        "annotations_creators": list(release.annotations_creators),
        "source_datasets": ["original"],
        "size_categories": [size_category(documents)],
        "task_categories": ["token-classification", "text-classification"],
        "task_ids": ["named-entity-recognition"],
        "tags": ["arabic", "news", "nested-ner", "attribution", "quotation", "wojood", "label-studio"],
        "configs": [
            {
                "config_name": config,
                **({"default": True} if i == 0 else {}),
                "data_files": [{"split": shard.split, "path": f"data/{config}/{shard.split}-*.parquet"} for shard in splits[config]],
            }
            for i, config in enumerate(features)
        ],
        "dataset_info": infos,
    }
    return meta


def body(release: Release, splits: Mapping[ConfigName, Sequence[Shard]], datasheet: str) -> str:
    rows = [
        f"| `{config}` | {', '.join(f'{shard.split} {shard.rows}' for shard in parts) or 'none yet: left out of this release'} | {CONFIG_ROWS.get(config, '')} |"
        for config, parts in splits.items()
    ]
    return "\n".join(
        [
            f"# {release.pretty_name}",
            "",
            f"Release **{release.version}** (tag `{release.tag}`). Arabic news pages annotated with nested named entities "
            "(the 21 Wojood types), attributed speech (CONTENT, SOURCE, CUE with `source` and `cue` relations) and page zones.",
            "",
            "| config | rows per split | a row is |",
            "|---|---|---|",
            *rows,
            "",
            "```python",
            "from datasets import load_dataset",
            "",
            *(
                f'{VARIABLE.get(config, config)} = load_dataset("{release.repo_id}", "{config}", revision="{release.tag}")'
                for config, parts in splits.items()
                if parts
            ),
            *(
                f'labels = documents["{parts[0].split}"].features["entities"].feature["label"].names'
                for config, parts in splits.items()
                if config == "documents" and parts
            ),
            "```",
            "",
            "Offsets are Python string indices (code points) into `text`: "
            "`text[entity[\"start\"]:entity[\"end\"]] == entity[\"text\"]` holds for every span.",
            "",
            *_provenance(release),
            f"![Spans per label in each layer]({LABELS_CHART})",
            "",
            f"![Spans per source]({SOURCES_CHART})",
            "",
            "The labeling config (`labeling_config.xml`) and `MANIFEST.json` (every file's SHA-256 and rows, "
            "the inputs' hashes and the library versions) are part of this repository. The datasheet follows.",
            "",
            demote_headings(datasheet.replace("\r\n", "\n").strip()),  # the same card from a datasheet checked out with CRLF
            "",
            "## Citation",
            "",
            citation(release),
            "",
        ]
    )


def citation(release: Release) -> str:
    """A BibTeX entry for this release, pointing at its tag on the Hub."""
    key = f"{release.name}_{release.version.replace('.', '_')}".replace("-", "_")
    return "\n".join(
        [
            "```bibtex",
            f"@misc{{{key},",
            f"  title        = {{{release.pretty_name}}},",
            "  author       = {{The Khabar project}},",
            f"  version      = {{{release.version}}},",
            "  howpublished = {Hugging Face Hub},",
            f"  url          = {{https://huggingface.co/datasets/{release.repo_id}/tree/{release.tag}}}",
            "}",
            "```",
        ]
    )


def _provenance(release: Release) -> list[str]:
    """What anyone evaluating on machine-made annotations must know first (the datasheet gives the detail)."""
    if "machine-generated" not in release.annotations_creators:
        return []
    return [
        "**Before evaluating on this data**: the annotations were written by automated annotator sessions and "
        "loaded into Label Studio in one bulk load (every annotation created within seconds, no lead time recorded), "
        "and the annotation guidelines were written on these same pages, many of their examples quoted from them. "
        "Scores on this release measure how well a system follows rules fitted to these texts: treat it as "
        "development data, not as an independent test set. Many spans lie in RELATED zones (teasers of other "
        "stories): filter on `zone` to keep the article bodies. The datasheet below says more.",
        "",
    ]


def demote_headings(markdown: str) -> str:
    """One level down, so the datasheet sits under the card's title."""
    return "\n".join("#" + line if line.startswith("#") else line for line in markdown.splitlines())


def render(meta: dict, text: str) -> str:
    return "---\n" + yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=1000) + "---\n\n" + text
