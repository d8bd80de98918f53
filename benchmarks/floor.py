"""The floor: parse a Label Studio export with ``json`` and write its span results to one parquet file with pyarrow.

No checks, no joins, no tables beyond one: the least any pipeline must do to turn
an export into columnar data. It reads the file the way Khabar's reader does
(bytes, one UTF-8 decode, ``json.loads`` with the cyclic garbage collector
paused), so the two differ only in what they do after the parse. Prints the row
count as JSON.

    python benchmarks/floor.py EXPORT.json OUT.parquet
"""

from __future__ import annotations

import gc
import json
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq


def export_spans(export_file: Path) -> pa.Table:
    gc.disable()  # as khabar.validation.reader does: parsed JSON has no cycles to collect
    tasks = json.loads(export_file.read_bytes().decode("utf-8"))
    columns: dict[str, list] = {name: [] for name in ("annotation_id", "doc_id", "region_id", "layer", "label", "start", "end", "text")}
    for task in tasks:
        doc_id = task["data"]["doc_id"]
        for annotation in task["annotations"]:
            for result in annotation["result"]:
                if result["type"] != "labels":
                    continue
                value = result["value"]
                columns["annotation_id"].append(annotation["id"])
                columns["doc_id"].append(doc_id)
                columns["region_id"].append(result["id"])
                columns["layer"].append(result["from_name"])
                columns["label"].append(value["labels"][0])
                columns["start"].append(value["start"])
                columns["end"].append(value["end"])
                columns["text"].append(value["text"])
    return pa.table(columns)


def main(argv: list[str]) -> int:
    export_file, out = Path(argv[0]), Path(argv[1])
    table = export_spans(export_file)
    pq.write_table(table, out)
    print(json.dumps({"span_rows": table.num_rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
