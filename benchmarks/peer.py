"""The peer: Label Studio's own converter (``label_studio_sdk.converter``) turning an export into CoNLL 2003.

This is what a Label Studio user reaches for without Khabar. It keeps the
newest non-cancelled annotation's first ``Labels`` layer, one label per token;
nesting, relations, choices and the other layers are dropped. Prints the
number of sentences (annotations) and tokens it wrote, as JSON.

    python benchmarks/peer.py EXPORT.json LABELING_CONFIG.xml OUT_DIR
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from label_studio_sdk.converter import Converter


def main(argv: list[str]) -> int:
    export_file, config, out_dir = Path(argv[0]), Path(argv[1]), Path(argv[2])
    logging.disable(logging.WARNING)
    converter = Converter(config=str(config), project_dir=None, download_resources=False)
    converter.convert(str(export_file), str(out_dir), "CONLL2003", is_dir=False)
    sentences = tokens = 0
    with (out_dir / "result.conll").open(encoding="utf-8") as handle:
        next(handle)  # -DOCSTART-
        for line in handle:
            if line == "\n":
                sentences += 1
            else:
                tokens += 1
    print(json.dumps({"conll_sentences": sentences, "conll_tokens": tokens}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
