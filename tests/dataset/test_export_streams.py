"""``khabar export`` a piece at a time: spaCy's DocBin written as ``DocBin.to_bytes`` would, and each document
taken with its sentences as both configs are read side by side."""

from __future__ import annotations

import random

import pytest

from khabar.dataset.export import with_sentences
from khabar.foundation.errors import KhabarError


@pytest.mark.parametrize("documents", [0, 1, 30, 600])
@pytest.mark.parametrize("user_data", [True, False])
def test_the_docbin_file_is_the_bytes_spacy_writes(tmp_path, documents, user_data):
    spacy = pytest.importorskip("spacy", reason="spaCy is pinned in the test extra")
    from spacy.tokens import Doc, DocBin

    from khabar.dataset.export import write_docbin

    vocab = spacy.blank("xx").vocab
    rng = random.Random(documents)
    docbin = DocBin(attrs=["ORTH", "SENT_START", "ENT_IOB", "ENT_TYPE"], store_user_data=user_data)
    for n in range(documents):  # 600 documents: the tokens' bytes pass 65,535 (msgpack's bin 32); 30: bin 16
        words = [rng.choice(["قال", "الرئيس", "في", "بغداد", "،", "a"]) for _ in range(rng.randrange(0, 120))]
        doc = Doc(vocab, words=words, spaces=[rng.random() < 0.8 for _ in words])
        if len(words) > 3:
            doc.ents = [doc.char_span(0, len(words[0]), label="PERS")]
            doc.spans["entity"] = [doc[1:3], doc[0:1]]
        doc.user_data["doc_id"] = f"doc-{n}"
        doc.cats = {"news": rng.random()}
        docbin.add(doc)
    path = tmp_path / "split.spacy"
    write_docbin(docbin, path)
    assert path.read_bytes() == docbin.to_bytes()
    assert len(DocBin().from_disk(path)) == documents


def _sentence(doc_id: str, sentence: int) -> dict:
    return {"doc_id": doc_id, "sentence": sentence}


def test_each_document_gets_its_own_sentences_and_one_without_gets_none():
    documents = [{"id": "a"}, {"id": "b"}, {"id": "c"}]
    sentences = [_sentence("a", 0), _sentence("a", 1), _sentence("c", 0)]
    taken = [(document["id"], [s["sentence"] for s in rows]) for document, rows in with_sentences(documents, iter(sentences), "train", "tokens")]
    assert taken == [("a", [0, 1]), ("b", []), ("c", [0])]


@pytest.mark.parametrize("sentences", [
    [("b", 0), ("a", 0)],  # the documents' order reversed
    [("a", 0), ("c", 0)],  # a document the split does not hold
    [("a", 0), ("b", 0), ("a", 1)],  # a document's sentences apart
])
def test_a_sentence_out_of_the_documents_order_is_an_error_naming_it(sentences):
    documents = [{"id": "a"}, {"id": "b"}]
    with pytest.raises(KhabarError, match="not where the order of the split's documents puts it"):
        list(with_sentences(documents, iter(_sentence(*s) for s in sentences), "train", "tokens"))
