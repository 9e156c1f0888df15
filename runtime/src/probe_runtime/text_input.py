"""Is this something to classify? The checks every `Classifier` call makes on the texts it is given.

What people pass by mistake where texts belong (None, bytes, a dict, a set, an empty or blank string, a
string with a lone surrogate) is refused as an ``InputError`` that names the text and the fix, before
anything is tokenized.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .errors import InputError

__all__ = ["as_list", "check_text", "checked_texts", "refuse_container"]

_SURROGATE = re.compile("[\ud800-\udfff]")


def as_list(texts: Any) -> tuple[list[Any], bool]:
    """The texts as a list, and whether one string was given; a container that is no list of texts is refused."""
    if isinstance(texts, str):
        return [texts], True
    refuse_container(texts)
    try:
        return list(texts), False
    except TypeError:
        raise InputError(f"texts is {type(texts).__name__}; pass a string or a list of strings") from None


def refuse_container(texts: Any) -> None:
    """``InputError`` for what people pass by mistake where a list of texts belongs (named, with the fix)."""
    what = type(texts).__name__
    if texts is None:
        raise InputError("texts is None; pass a string or a list of strings")
    if isinstance(texts, (bytes, bytearray, memoryview)):
        raise InputError(f"texts is {what}; decode it to a string first, e.g. data.decode('utf-8')")
    if isinstance(texts, Mapping):
        raise InputError(f"texts is a {what}; pass a list of strings, e.g. list(d.values())")
    if isinstance(texts, (set, frozenset)):
        raise InputError(f"texts is a {what}, which has no order; pass a list so results line up with texts")


def check_text(text: Any, name: str) -> str:
    """``text`` if it is something to classify, else an ``InputError`` naming it (``name``) and the fix."""
    if not isinstance(text, str):
        hint = "; decode it to a string first" if isinstance(text, (bytes, bytearray)) else ""
        raise InputError(f"{name} is {type(text).__name__}, not str{hint}")
    if not text or text.isspace():
        raise InputError(
            f"{name} is {'empty' if not text else 'only whitespace'}: there is nothing to classify; "
            "drop it before calling (the CLI skips such rows and counts them as empty)"
        )
    if not text.isascii():
        bad = _SURROGATE.search(text)
        if bad:
            raise InputError(
                f"{name} holds a lone surrogate U+{ord(bad.group()):04X} at character {bad.start()}, which is "
                "not valid Unicode (often bytes decoded with errors='surrogateescape'); decode the source "
                "with errors='replace' or remove it"
            )
    return text


def checked_texts(texts: Any, first: int = 0) -> tuple[list[str], bool]:
    """The texts as a list, and whether one string was given; anything else is an ``InputError`` naming it.

    ``first``: the number of the first text, so a stream's errors name the text's place in the whole stream.
    """
    items, single = as_list(texts)
    for i, text in enumerate(items, start=first):
        check_text(text, "the text" if single else f"text #{i}")
    return items, single
