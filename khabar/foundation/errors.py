"""The one error type every stage raises for bad input.

The CLI turns it into a one-line message and an exit status; a traceback
is a bug. A message never shows a secret the command holds (:func:`redact`).
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata

# Exit statuses shared by every command.
EXIT_OK = 0
EXIT_FAILED_CHECKS = 1
EXIT_UNUSABLE_INPUT = 2

#: What ``str.splitlines`` breaks a line at: a file name, doc_id, label or region id holding one
#: (JSON and most file systems allow them) would otherwise split a one-line message.
LINE_BREAK = re.compile("[\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029]")
#: How Python holds a byte of a file's name that is not UTF-8 (or not ASCII in a C locale): the lone surrogate
#: U+DC00 + the byte (``surrogateescape``).
ESCAPED_BYTE = re.compile("[\udc80-\udcff]")
#: The Unicode names (aliases: ``unicodedata.name`` has none for a control character) of the controls Python takes
#: for white space or a line break.
CONTROL_NAMES = {
    "\t": "CHARACTER TABULATION", "\n": "LINE FEED", "\v": "LINE TABULATION", "\f": "FORM FEED", "\r": "CARRIAGE RETURN",
    "\x1c": "INFORMATION SEPARATOR FOUR", "\x1d": "INFORMATION SEPARATOR THREE", "\x1e": "INFORMATION SEPARATOR TWO",
    "\x1f": "INFORMATION SEPARATOR ONE", "\x85": "NEXT LINE (NEL)",
}
#: the characters of a text a message shows before it elides the middle
QUOTED_CHARACTERS = 60
#: The user and password of a URL (``scheme://user:password@``), wherever it appears in a text.
USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@")
#: HTTP Basic credentials as a request carries them (``Authorization: Basic base64(user:password)``): what an HTTP
#: client makes of a URL's user and password, and a server can echo back
BASIC_CREDENTIALS = re.compile(r"\bBasic\s+(?P<encoded>[A-Za-z0-9+/]{4,}={0,2})")
#: what a message shows in place of a secret
MASK = "***"
#: the secrets this process was given (:func:`mark_secret`)
_secrets: set[str] = set()


def one_line(text: str) -> str:
    """``text`` with each line break written as its Python escape (``\\n``, ``\\u2028``): one line, and the break still seen."""
    return LINE_BREAK.sub(lambda found: found.group().encode("unicode_escape").decode("ascii"), text)


def character(char: str) -> str:
    """A character as a message names it: its code point and name (``U+2028 LINE SEPARATOR``)."""
    return f"U+{ord(char):04X} {CONTROL_NAMES.get(char) or unicodedata.name(char, 'unnamed character')}"


def shown_name(name: str) -> str:
    """A file's name as a message shows it: each byte Python could not decode (:data:`ESCAPED_BYTE`) as ``\\xe9``,
    the byte it is, where standard error wrote the surrogate's code point (``\\udce9``) and standard output the raw
    byte or a traceback."""
    return ESCAPED_BYTE.sub(lambda found: f"\\x{ord(found.group()) - 0xDC00:02x}", name)


def mark_secret(value: str) -> str:
    """``value`` (a token, a password), counted from now on among the secrets :func:`redact` masks; called where a
    secret is read (the environment, the local Label Studio's credentials)."""
    if value and isinstance(value, str):  # a malformed credentials file can hold a number there
        _secrets.add(value)
    return value


def _masked_basic(found: re.Match[str]) -> str:
    """Basic credentials masked, when they are some (the base64 of ``user:password``), not a word after "Basic"."""
    try:
        decoded = base64.b64decode(found["encoded"], validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return found.group()
    return f"Basic {MASK}" if ":" in decoded else found.group()


def redact(text: str) -> str:
    """``text`` with every secret this process holds (:func:`mark_secret`), every URL's user and password and every
    Basic credentials made of them shown as ``***``. A server's answer can echo what it was sent (a Hub put the
    request's ``Authorization`` header in the error huggingface_hub raises), so what a server says is only ever
    shown through this: :class:`KhabarError`'s message, and every log record (khabar.progress)."""
    for secret in sorted(_secrets, key=len, reverse=True):  # the longer first: a secret may hold another
        text = text.replace(secret, MASK)
    return BASIC_CREDENTIALS.sub(_masked_basic, USERINFO.sub(rf"\g<scheme>{MASK}@", text))


def not_utf8(exc: UnicodeDecodeError, offset: int = 0) -> str:
    """What a UTF-8 decoding error found, in one phrase: the byte and where it is (``offset``: of the decoded bytes'
    first byte in the file)."""
    return f"not UTF-8 (byte 0x{exc.object[exc.start]:02x} at offset {offset + exc.start})"


def quoted(text: str | None, limit: int = QUOTED_CHARACTERS) -> str:
    """A text as a one-line message shows it: «…», line breaks escaped (:func:`one_line`), the middle elided past ``limit`` characters.

    Both edges are kept: a span's problem is mostly at an edge (white space, a
    proclitic, punctuation), and a zone span of 3,000 characters quoted whole made
    one warning sixty lines long.
    """
    if text is None:
        return "nothing"
    if len(text) > limit:
        head = (limit - 1) // 2
        text = text[:head] + "…" + text[len(text) - (limit - 1 - head) :]
    return "«" + one_line(text) + "»"


class KhabarError(Exception):
    """Bad input, described well enough for a person to fix it.

    ``file``, ``task`` (a Label Studio task id, or ``#N`` for its position),
    ``document`` (a corpus doc_id) and ``region`` say where; the message says what.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        task: int | str | None = None,
        document: str | None = None,
        region: str | None = None,
        exit_status: int = EXIT_UNUSABLE_INPUT,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.task = task
        self.document = document
        self.region = region
        self.exit_status = exit_status

    def __str__(self) -> str:
        where = []
        if self.file is not None:
            where.append(shown_name(str(self.file)))
        if self.task is not None:
            where.append(f"task {self.task}")
        if self.document is not None:
            where.append(f"document {self.document}")
        if self.region is not None:
            where.append(f"region {self.region}")
        return one_line(redact(f"{': '.join(where)}: {self.message}" if where else self.message))
