"""Tokens and sentences of a text, found without looking at any annotation.

A token is a run of word characters (letters, digits, Arabic marks) or one
other non-space character, as Wojood's CoNLL splits punctuation off. With
``split_proclitics`` the conjunctions و/ف and the prepositions ب/ك/ل before
the article ال become tokens of their own (والعراق → و + العراق), because the
guidelines keep them outside an entity while the word stays one token in
Wojood. Offsets are Python ``str`` indices into the text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TOKEN = re.compile(r"[\w\u064b-\u065f\u0670]+|[^\w\s]")
# و/ف then optionally ب/ك/ل, before ال and at least two more letters.
_PROCLITIC = re.compile(r"^([وف]?[بكل]?)(?=ال\w\w)")
#: A token :func:`tokenize` split off as a proclitic.
PROCLITIC_TOKEN = re.compile(r"[وف]?[بكل]?")
SENTENCE_END = frozenset(".!؟?")


@dataclass(frozen=True, slots=True)  # every token of the sentences a model learns from
class Token:
    text: str
    start: int
    end: int


def tokenize(text: str, *, split_proclitics: bool) -> list[Token]:
    tokens: list[Token] = []
    for match in _TOKEN.finditer(text):
        start, word = match.start(), match.group()
        clitic = _PROCLITIC.match(word) if split_proclitics else None
        if clitic is not None and clitic.end() > 0:
            tokens.append(Token(word[: clitic.end()], start, start + clitic.end()))
            start, word = start + clitic.end(), word[clitic.end() :]
        tokens.append(Token(word, start, start + len(word)))
    return tokens


def sentences(text: str, *, split_proclitics: bool) -> list[list[Token]]:
    """Tokens grouped into sentences: a line break or a sentence-final mark ends one."""
    found: list[list[Token]] = []
    current: list[Token] = []
    previous_end = 0
    for token in tokenize(text, split_proclitics=split_proclitics):
        if current and "\n" in text[previous_end : token.start]:
            found.append(current)
            current = []
        current.append(token)
        previous_end = token.end
        if token.text in SENTENCE_END:
            found.append(current)
            current = []
    if current:
        found.append(current)
    return found
