"""The configs' features, written without ``datasets``, are what ``datasets`` makes of them: read back from the
Arrow schema by ``datasets.Features``, they give the same schema, metadata and card YAML to the byte."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest
from datasets import Features as HubFeatures
from datasets.info import DatasetInfo
from datasets.splits import SplitDict, SplitInfo

from khabar.annotation.scheme import load_scheme
from khabar.annotation.tags import tag_names
from khabar.dataset import card
from khabar.dataset.card import Shard
from khabar.dataset.features import all_features, column_of, zone_names
from khabar.dataset.release import load_release

SHARDS = [Shard("train", 120, 4_096, 1_024), Shard("test", 7, 512, 300)]


@pytest.mark.parametrize("per_annotator", [False, True])
def test_schemas_are_those_datasets_makes_of_the_features_they_describe(per_annotator: bool) -> None:
    for config, features in all_features(load_scheme(), per_annotator=per_annotator).items():
        schema = features.arrow_schema
        read = HubFeatures.from_arrow_schema(schema)
        assert read.arrow_schema.equals(schema, check_metadata=True), config
        assert read.arrow_schema.metadata[b"huggingface"] == schema.metadata[b"huggingface"], config
        assert pa.schema(read.type).equals(schema.remove_metadata()), config
        assert list(json.loads(schema.metadata[b"huggingface"])["info"]["features"]) == list(features), config


def test_class_labels_read_back_with_the_schemes_names() -> None:
    scheme = load_scheme()
    features = {config: HubFeatures.from_arrow_schema(f.arrow_schema) for config, f in all_features(scheme).items()}
    assert features["tokens"]["nested_ner_tags"].feature.feature.names == tag_names(scheme.entity.labels)
    for layer in scheme.layers:
        assert features["documents"][column_of(layer.name)].feature["label"].names == list(layer.labels)
    assert features["quotes"]["zone"].names == zone_names(scheme)
    assert features["documents"]["relations"].feature["label"].names == list(scheme.relation_labels)


@pytest.mark.parametrize("per_annotator", [False, True])
def test_card_dataset_info_is_datasets_yaml(per_annotator: bool) -> None:
    features = all_features(load_scheme(), per_annotator=per_annotator)
    meta = card.metadata(load_release(), features, {config: SHARDS for config in features}, documents=127)
    for config, info in zip(features, meta["dataset_info"], strict=True):
        splits = SplitDict()
        for shard in SHARDS:
            splits.add(SplitInfo(name=shard.split, num_bytes=shard.arrow_bytes, num_examples=shard.rows))
        expected = DatasetInfo(
            features=HubFeatures.from_arrow_schema(features[config].arrow_schema),
            splits=splits,
            config_name=config,
            download_size=sum(s.file_bytes for s in SHARDS),
            dataset_size=sum(s.arrow_bytes for s in SHARDS),
        )._to_yaml_dict()
        assert info == expected, config
        assert card.render({"dataset_info": [info]}, "") == card.render({"dataset_info": [expected]}, "")
