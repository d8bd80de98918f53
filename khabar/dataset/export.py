"""``khabar export``: a build folder in the formats NER and attribution tools read.

- ``conll``: per split, ``<split>.txt`` in Wojood's layout: one token per line,
  ``TOKEN TAG [TAG ...]`` with one IOB2 column per nesting level covering the
  token (outermost first), a blank line between sentences; exactly the
  ``tokens`` config, so ``khabar import-conll`` reads it back.
- ``conll-wojood``: the same layout and tokens, with the entities mapped to
  Wojood's conventions where a mechanical rule can (:mod:`khabar.dataset.wojood`:
  forces named by their country become ORG, NORP inside ORG/OCC is dropped),
  and ``wojood_changes.tsv`` listing every entity added or dropped, with why.
- ``spacy``: per split, ``<split>.spacy``, a ``DocBin`` of one ``Doc`` per
  document on the ``tokens`` config's tokens (white space between them kept, so
  ``doc.text`` is the document's text); ``doc.ents`` holds the outermost
  entities, the span group ``entity`` every entity (nested), and the groups
  ``attribution`` and ``zone`` the other layers; sentence starts are set.
- ``brat``: per split and document, ``<doc_id>.txt`` and ``<doc_id>.ann``
  (standoff: every span of every layer, the relations, the quote type as an
  attribute, the knowledge base's id as a normalisation), and one
  ``annotation.conf``. A per-annotator build (``khabar build --per-annotator``:
  a row per document and annotator) gives each annotator's version its own
  pair, ``<doc_id>.<annotator>.txt`` and ``.ann``.

The other formats refuse a per-annotator build (:data:`NO_VERSIONS`). A file is
never written twice: two versions that would have one name (or names a
case-insensitive file system cannot tell apart) are refused, not overwritten.

The build is checked first, as ``khabar validate --dataset`` checks it, and refused
in one line when it fails (:func:`khabar.validation.dataset_check.refuse_failing_build`).
The label names come from the build's own ``labeling_config.xml``. The output
folder must not exist; it is written aside and renamed into place. With
``--revision``, BUILD is a Hub dataset repository (``ORG/khabar``) and that
revision (a tag such as ``v2.0.0``) is downloaded first, from ``HF_ENDPOINT``
when set.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator, Sequence
from itertools import chain, groupby
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from khabar.dataset.layout import ConfigName, Split, split_of_file
from khabar.foundation import parquet
from khabar.foundation.errors import KhabarError, mark_secret
from khabar.foundation.files import check_output, put_in_place, staging_folder, write_error
from khabar.foundation.manifest import HUB_MANAGED, MANIFEST_NAME, SCHEME_NAME, build_holding

if TYPE_CHECKING:
    from spacy.tokens import DocBin

    from khabar.annotation.scheme import Scheme

Format = Literal["conll", "conll-wojood", "spacy", "brat"]
FORMATS: tuple[Format, ...] = ("conll", "conll-wojood", "spacy", "brat")
#: The formats that refuse a per-annotator build, and why: they would not keep each annotator's version (brat
#: writes each its own pair of files).
NO_VERSIONS: dict[Format, str] = {
    "conll": "its tags are the tokens config's, which holds the gold's",
    "conll-wojood": "a CoNLL file cannot say whose version a sentence is",
    "spacy": "its entities on tokens are the tokens config's, which holds the gold's",
}
#: The name of the version of an annotation no one signed (its ``annotator`` is null): no pseudonym has it.
NO_ANNOTATOR = "no-annotator"


def _scheme(build: Path) -> Scheme:
    """The scheme the build was made with; a build made before roles were marked in the config is read too."""
    from khabar.annotation.scheme import parse_unmarked_scheme, read_config

    config = build / SCHEME_NAME
    if not config.is_file() or not (build / "data").is_dir():
        raise KhabarError(f"not a khabar build folder (no {SCHEME_NAME} or data/)", file=str(build))
    return parse_unmarked_scheme(read_config(config), source=str(config))


def _splits(build: Path, config: ConfigName) -> Iterator[tuple[Split, Iterator[dict]]]:
    """(split, its rows) of one config, splits in file-name order; the rows are read as they are taken."""
    for split, paths in groupby(sorted((build / "data" / config).glob("*.parquet")), key=split_of_file):
        yield split, chain.from_iterable(map(_rows, list(paths)))


def _rows(path: Path) -> Iterator[dict]:
    """The rows of a parquet file as Python values, a batch of them at a time (:func:`parquet.batches`)."""
    for batch in parquet.batches(path):
        yield from batch.to_pylist()


def conll_lines(sentences: Iterable[dict], tags: Sequence[str]) -> Iterator[str]:
    """Wojood's layout, one line per token, a blank line after each sentence."""
    for sentence in sentences:
        for token, column in zip(sentence["tokens"], sentence["nested_ner_tags"], strict=True):
            yield " ".join([token, *(tags[t] for t in column)])
        yield ""


def write_conll(build: Path, out: Path) -> list[str]:
    from khabar.annotation.tags import tag_names

    tags = tag_names(_scheme(build).entity.labels)
    written = []
    for split, rows in _splits(build, "tokens"):
        with (out / f"{split}.txt").open("w", encoding="utf-8") as handle:
            handle.writelines(line + "\n" for line in conll_lines(rows, tags))
        written.append(f"{split}.txt")
    return written


def write_conll_wojood(build: Path, out: Path) -> list[str]:
    from khabar.dataset.configs import sentence_rows
    from khabar.dataset.iob import Span
    from khabar.dataset.wojood import HEADER, check_labels, wojood_spans

    labels = _scheme(build).entity.labels
    check_labels(labels)
    written, changes = [], []
    for split, documents in _splits(build, "documents"):
        with (out / f"{split}.txt").open("w", encoding="utf-8") as handle:
            for document in documents:
                entities = [Span(e["start"], e["end"], labels[e["label"]]) for e in document["entities"]]
                spans, changed = wojood_spans(document["id"], document["text"], entities)
                changes += changed
                rows, _ = sentence_rows(document["id"], document["text"], spans, labels)
                for row in rows:
                    handle.writelines(" ".join([token, *tags]) + "\n" for token, tags in zip(row.tokens, row.nested_tags, strict=True))
                    handle.write("\n")
        written.append(f"{split}.txt")
    (out / "wojood_changes.tsv").write_text("".join(line + "\n" for line in [HEADER, *(c.row() for c in changes)]), encoding="utf-8")
    added = sum(c.change == "added ORG" for c in changes)
    written.append(f"wojood_changes.tsv ({added} ORG added, {len(changes) - added} NORP dropped)")
    return written


def _words(text: str, offsets: Sequence[tuple[int, int]]) -> tuple[list[str], list[bool], list[int]]:
    """spaCy words and spaces over ``text``: the given tokens, and the white space between them as tokens
    of their own where it is more than one space; returns also the index of each given token among the words."""
    words: list[str] = []
    spaces: list[bool] = []
    index: list[int] = []
    cursor = 0
    for start, end in [*offsets, (len(text), len(text))]:
        gap = text[cursor:start]
        if gap.startswith(" ") and words:
            spaces[-1], gap = True, gap[1:]
        if gap:
            words.append(gap)
            spaces.append(False)
        if start < end:
            index.append(len(words))
            words.append(text[start:end])
            spaces.append(False)
        cursor = end
    return words, spaces, index


def _char_span(doc, start: int, end: int, label: str):
    """The span of ``doc`` over the whole tokens holding ``[start, end)`` (the ``tokens`` config's widening)."""
    span = doc.char_span(start, end, label=label, alignment_mode="expand")
    if span is None:
        raise KhabarError(f"span [{start}:{end}] {label} covers no token of document {doc.user_data.get('doc_id')!r}")
    return span


def with_sentences(documents: Iterable[dict], sentences: Iterator[dict], split: Split, folder: Path) -> Iterator[tuple[dict, list[dict]]]:
    """Each of a split's documents with its rows of the ``tokens`` config, read side by side: a build writes a split's
    sentences in the order of its documents (held in memory instead, as Python values, the spaCy export of a 1M
    span results build took 1.52 GB). A sentence out of that order is an error naming it, not a document left
    without its tokens."""
    pending = next(sentences, None)
    for document in documents:
        rows = []
        while pending is not None and pending["doc_id"] == document["id"]:
            rows.append(pending)
            pending = next(sentences, None)
        yield document, rows
    if pending is not None:
        raise KhabarError(f"{split}: sentence {pending['sentence']} of document {pending['doc_id']!r} is not where the order of the split's documents puts it",
                          file=str(folder))


def write_spacy(build: Path, out: Path) -> list[str]:
    try:
        import spacy
        from spacy.tokens import Doc, DocBin
    except ImportError:
        raise KhabarError("--format spacy needs spaCy: pip install 'khabar[export]'") from None
    from khabar.annotation.tags import tag_names
    from khabar.dataset.features import column_of
    from khabar.dataset.iob import decode_flat

    scheme = _scheme(build)
    tags = tag_names(scheme.entity.labels)
    vocab = spacy.blank("xx").vocab  # spaCy's multi-language vocab: the tokens are given, no tokenizer runs
    tokens = dict(_splits(build, "tokens"))
    written = []
    for split, documents in _splits(build, "documents"):
        docbin = DocBin(attrs=["ORTH", "SENT_START", "ENT_IOB", "ENT_TYPE"], store_user_data=True)
        for document, rows in with_sentences(documents, tokens.get(split, iter(())), split, build / "data" / "tokens"):
            offsets = [(s, s + len(t)) for row in rows for s, t in zip(row["token_starts"], row["tokens"])]
            words, spaces, index = _words(document["text"], offsets)
            word_of = {start: index[i] for i, (start, _) in enumerate(offsets)}
            sent_starts: list[bool | int | None] = [None] * len(words)
            for row in rows:
                if row["tokens"]:
                    sent_starts[word_of[row["token_starts"][0]]] = True
            doc = Doc(vocab, words=words, spaces=spaces, sent_starts=sent_starts if words else None)
            outer = [span for row in rows for span in decode_flat(
                [(s, s + len(t)) for s, t in zip(row["token_starts"], row["tokens"])], [tags[column[0]] for column in row["nested_ner_tags"]]
            )]
            doc.ents = [_char_span(doc, s.start, s.end, s.label) for s in outer]
            for layer in scheme.layers:
                doc.spans[layer.name] = [
                    _char_span(doc, span["start"], span["end"], layer.labels[span["label"]]) for span in document[column_of(layer.name)]
                ]
            doc.user_data["doc_id"] = document["id"]
            docbin.add(doc)
        write_docbin(docbin, out / f"{split}.spacy")
        written.append(f"{split}.spacy")
    return written


def write_docbin(docbin: DocBin, path: Path) -> None:
    """Write to ``path`` the bytes ``DocBin.to_disk`` writes (``docbin.to_bytes()``), a piece at a time.

    ``to_bytes`` stacks every document's token array, copies the stack to bytes, packs that into one msgpack
    message and compresses the message: four copies of the split's tokens at once (the spaCy export of a 3M span
    results build took 1.68 GB; 0.66 GB written so). Here the message is packed field by field, in ``to_bytes``'
    order, each document's array copied alone, and compressed as it goes (zlib's output does not depend on how
    its input is cut).
    """
    import zlib

    import numpy
    import srsly
    from srsly.msgpack import Packer

    def packed(value: object) -> list[bytes]:
        return [srsly.msgpack_dumps(value)]  # the packer msgpack_dumps is: spaCy's

    def stacked(arrays: list) -> Iterator[bytes]:
        """One msgpack bin of the arrays' bytes one after the other: ``numpy.vstack(arrays).tobytes("C")``."""
        yield _bin_header(sum(array.nbytes for array in arrays))
        yield from (array.tobytes("C") for array in arrays)

    def items(values: list) -> Iterator[bytes]:
        yield Packer().pack_array_header(len(values))
        yield from (srsly.msgpack_dumps(value) for value in values)

    message: dict[str, Iterable[bytes]] = {
        "version": packed(docbin.version),
        "attrs": packed(docbin.attrs),
        "tokens": stacked(docbin.tokens),
        "spaces": stacked(docbin.spaces),
        "lengths": packed(numpy.asarray([len(tokens) for tokens in docbin.tokens], dtype="int32").tobytes("C")),
        "strings": packed(sorted(docbin.strings)),
        "cats": items(docbin.cats),
        "flags": items(docbin.flags),
        "span_groups": items(docbin.span_groups),
        **({"user_data": items(docbin.user_data)} if docbin.store_user_data else {}),
    }
    compress = zlib.compressobj()
    with path.open("wb") as file:
        file.write(compress.compress(Packer().pack_map_header(len(message))))
        for key, value in message.items():
            file.write(compress.compress(srsly.msgpack_dumps(key)))
            for piece in value:
                file.write(compress.compress(piece))
        file.write(compress.flush())


def _bin_header(size: int) -> bytes:
    """msgpack's header of a bin of ``size`` bytes (the format's bin 8, bin 16 and bin 32)."""
    if size < 1 << 8:
        return struct.pack(">BB", 0xC4, size)
    if size < 1 << 16:
        return struct.pack(">BH", 0xC5, size)
    return struct.pack(">BI", 0xC6, size)


def brat_annotations(document: dict, scheme) -> list[str]:
    """The ``.ann`` lines of one document: T (spans, fragments split at line breaks), R (relations),
    A (quote types), N (knowledge-base ids)."""
    from khabar.dataset.features import column_of

    text = document["text"]
    lines: list[str] = []
    t_of: dict[str, str] = {}
    attributes = normalisations = 0
    for layer in scheme.layers:
        choices = [c for c in scheme.region_choices if c.layer == layer.name]
        for span in document[column_of(layer.name)]:
            number = f"T{len(t_of) + 1}"
            t_of.setdefault(span["id"], number)  # a relation names the first span of a region id
            start, end = span["start"], span["end"]
            fragments, cursor = [], start
            for part in text[start:end].split("\n"):
                if part:
                    fragments.append(f"{cursor} {cursor + len(part)}")
                cursor += len(part) + 1
            surface = " ".join(p for p in text[start:end].split("\n") if p)
            lines.append(f"{number}\t{layer.labels[span['label']]} {';'.join(fragments)}\t{surface}")
            for choice in choices:
                if span.get(choice.name) is not None:
                    attributes += 1
                    lines.append(f"A{attributes}\t{choice.name} {number} {choice.choices[span[choice.name]]}")
            if span.get("entity_id"):
                normalisations += 1
                lines.append(f"N{normalisations}\tReference {number} khabar_kb:{span['entity_id']}\t{span['text']}")
    for n, relation in enumerate(document["relations"], start=1):
        if relation["from_id"] in t_of and relation["to_id"] in t_of:
            lines.append(f"R{n}\t{scheme.relation_labels[relation['label']]} Arg1:{t_of[relation['from_id']]} Arg2:{t_of[relation['to_id']]}")
    return lines


def brat_conf(scheme) -> str:
    lines = ["[entities]", *(label for layer in scheme.layers for label in layer.labels), "", "[relations]"]
    lines += [f"{rule.label}\tArg1:{rule.from_label}, Arg2:{rule.to_label}" for rule in scheme.relations]
    lines += ["", "[events]", "", "[attributes]"]
    lines += [f"{c.name}\tArg:{c.label}, Value:{'|'.join(c.choices)}" for c in scheme.region_choices]
    return "\n".join(lines) + "\n"


def brat_name(document: dict) -> str:
    """The name of a document's pair of files: its id, and in a per-annotator build the annotator whose version it
    is (``<doc_id>.<annotator>``, :data:`NO_ANNOTATOR` for a version no one signed)."""
    from khabar.dataset.features import ANNOTATOR

    name = document["id"] if ANNOTATOR not in document else f"{document['id']}.{document[ANNOTATOR] or NO_ANNOTATOR}"
    if name in ("", ".", "..") or "/" in name or "\0" in name:
        raise KhabarError(f"document {document['id']!r}: {name!r} cannot name a file")
    return name


def write_brat(build: Path, out: Path) -> list[str]:
    scheme = _scheme(build)
    (out / "annotation.conf").write_text(brat_conf(scheme), encoding="utf-8")
    written = ["annotation.conf"]
    for split, documents in _splits(build, "documents"):
        (out / split).mkdir()
        versions, doc_ids = 0, set[str]()
        for document in documents:
            name = brat_name(document)
            try:  # each file new ("x"): a second version of one name, or of one the file system cannot tell from it, is refused
                for suffix, text in ((".txt", document["text"]), (".ann", "".join(line + "\n" for line in brat_annotations(document, scheme)))):
                    with (out / split / f"{name}{suffix}").open("x", encoding="utf-8") as file:
                        file.write(text)
            except FileExistsError:
                raise KhabarError(f"two versions of document {document['id']!r} would both be written to {split}/{name}.txt, the second over the first",
                                  file=str(build)) from None
            versions += 1
            doc_ids.add(document["id"])
        written.append(f"{split}/ ({len(doc_ids)} documents)" if versions == len(doc_ids) else f"{split}/ ({versions} versions of {len(doc_ids)} documents)")
    return written


def _per_annotator(build: Path) -> bool:
    """Whether ``build`` has a row per document and annotator (``khabar build --per-annotator``)."""
    import pyarrow.parquet as pq

    from khabar.dataset.features import ANNOTATOR

    return any(ANNOTATOR in pq.read_schema(path).names for path in (build / "data" / "documents").glob("*.parquet"))


WRITERS = {"conll": write_conll, "conll-wojood": write_conll_wojood, "spacy": write_spacy, "brat": write_brat}


def download(repo_id: str, revision: str, into: Path) -> Path:
    """The files of one revision of a Hub dataset repository, in the new folder ``into``: the build as published,
    without the files the Hub adds itself, beside huggingface_hub's record of the download (which the check of a
    build passes over: :data:`khabar.foundation.manifest.HUB_DOWNLOAD_RECORD`); what goes wrong is one line
    (``publish.hub_answers``)."""
    from huggingface_hub import constants, get_token, snapshot_download

    from khabar.dataset.publish import hub_answers

    with hub_answers(repo_id, constants.ENDPOINT, f"download revision {revision!r}"):
        mark_secret(get_token() or "")  # the token the client sends (HF_TOKEN, else a stored login's): the Hub may echo it
        folder = Path(snapshot_download(repo_id, repo_type="dataset", revision=revision, local_dir=into, ignore_patterns=sorted(HUB_MANAGED)))
    return folder


def export(build: Path, out: Path, fmt: Format) -> list[str]:
    """Write ``build`` as ``fmt`` into the new folder ``out``; returns what was written."""
    from khabar.validation.dataset_check import refuse_failing_build

    check_output(out, "--out")
    if out.exists() or out.is_symlink():
        raise KhabarError("refusing to write into an existing path: choose a new --out folder", file=str(out))
    holder = build_holding(out)
    if holder is not None:
        raise KhabarError(f"refusing to write inside a build ({holder}): it would no longer match its {MANIFEST_NAME}; choose an --out folder outside it", file=str(out))
    refuse_failing_build(build)  # a missing tokens file exported as no sentences, a column of the wrong type was a traceback
    if fmt in NO_VERSIONS and _per_annotator(build):
        raise KhabarError(f"a per-annotator build: --format {fmt} would not keep each annotator's version ({NO_VERSIONS[fmt]}); "
                          "--format brat writes a pair of files per version", file=str(build))
    with staging_folder(out) as staging:
        try:
            written = WRITERS[fmt](build, staging)
            put_in_place(staging, out)
        except OSError as exc:
            raise write_error(exc, out) from None
    return written
