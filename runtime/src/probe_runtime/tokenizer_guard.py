"""Load the artifact's tokenizer within bounds, and turn the tokenizers library's panics into our errors.

A tokenizer JSON is a program of sorts: a vocabulary, merges, and chains of normalizers and
pre-tokenizers, some with regular expressions. A crafted one can ask for gigabytes or for a chain
thousands deep; the Rust library builds whatever it is given. We check the shape first, with limits
far above any real tokenizer (measured: BERT/MiniLM 30,522 tokens and 0.7 MB; XLM-R 250,002 tokens
and 17 MB; the biggest Hub vocabularies are ~260,000), and refuse the rest.

The Rust side reports bugs and malformed internals (e.g. a corrupt ``precompiled_charsmap``) by
*panicking*, which pyo3 raises as ``pyo3_runtime.PanicException``: a ``BaseException``, so
``except Exception`` misses it and it ends the program with a Rust backtrace. ``tokenizer_panics``
converts it, at load and during encoding. (The Rust panic hook still writes its own line to stderr;
the library offers no way to silence it.)
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tokenizers import Tokenizer

from .errors import ArtifactError

__all__ = ["LIMITS", "expansion", "is_panic", "load_tokenizer", "tokenizer_panics"]

LIMITS = {
    "json_bytes": 64_000_000,  # 3.7x XLM-R's 17 MB
    "vocabulary": 1_000_000,
    "merges": 1_000_000,
    "added_tokens": 100_000,
    "chain": 32,  # normalizers / pre-tokenizers / post-processors / decoders in one Sequence
    "nesting": 4,  # Sequences inside Sequences
    "pattern_chars": 10_000,  # one regular expression, replacement or prepended string
    "expansion": 64,  # characters one input character may become through the normalizers (see `expansion`)
}
_PIPELINE = ("normalizer", "pre_tokenizer", "post_processor", "decoder")
_SEQUENCE_KEYS = ("normalizers", "pretokenizers", "processors", "decoders")


def is_panic(exc: BaseException) -> bool:
    """A Rust panic surfaced by pyo3 (its class is not importable from a stable place, so match the name)."""
    return type(exc).__name__ == "PanicException"


@contextmanager
def tokenizer_panics(what: str) -> Iterator[None]:
    """Re-raise a tokenizers panic as ``ArtifactError`` naming ``what`` was being done; pass others through."""
    try:
        yield
    except BaseException as exc:
        if not is_panic(exc):
            raise
        detail = str(exc).splitlines()[0][:200] if str(exc) else "no detail"
        raise ArtifactError(
            f"the artifact's tokenizer crashed while {what} ({detail}); the tokenizer is corrupted or crafted: "
            "re-export the model or re-download it"
        ) from None


def _depth_and_chains(node: Any, key: str) -> None:
    """Walk one pipeline component: bounded Sequence lengths, bounded nesting, bounded regexes."""
    stack = [(node, 0)]
    while stack:
        item, depth = stack.pop()
        if not isinstance(item, dict):
            continue
        pattern = item.get("pattern")
        if isinstance(pattern, dict):
            for value in pattern.values():
                if isinstance(value, str) and len(value) > LIMITS["pattern_chars"]:
                    raise ArtifactError(
                        f"its tokenizer's {key} has a pattern of {len(value):,} characters "
                        f"(limit {LIMITS['pattern_chars']:,}); the tokenizer is crafted or corrupted: "
                        "re-export the model"
                    )
        for name in _SEQUENCE_KEYS:
            chain = item.get(name)
            if not isinstance(chain, list):
                continue
            if len(chain) > LIMITS["chain"]:
                raise ArtifactError(
                    f"its tokenizer's {key} chains {len(chain):,} steps (limit {LIMITS['chain']}); "
                    "the tokenizer is crafted or corrupted: re-export the model"
                )
            if depth + 1 > LIMITS["nesting"]:
                raise ArtifactError(
                    f"its tokenizer's {key} nests sequences more than {LIMITS['nesting']} deep; "
                    "the tokenizer is crafted or corrupted: re-export the model"
                )
            stack.extend((child, depth + 1) for child in chain)


# Characters one character may become, per normalizer (Unicode's own bounds for its normal forms, UAX #15:
# NFC 3, NFD 4, NFKC/NFKD 18 code points; full lowercasing at most 3; byte-level: one per UTF-8 byte).
_EXPANSION = {"NFC": 3, "NFD": 4, "NFKC": 18, "NFKD": 18, "Lowercase": 3, "ByteLevel": 4}
_SHRINKING = {"Strip", "StripAccents", "Nmt"}  # remove characters or map them one to one


def _precompiled_expansion(charsmap: Any) -> int:
    """The longest replacement in a SentencePiece ``precompiled_charsmap``, in characters (1 when none).

    Its layout: a little-endian u32 size, a trie of that many bytes, then the replacements, each ending
    in a NUL byte. Every replacement is reached by at least one input character.
    """
    import base64
    import binascii

    if not isinstance(charsmap, str):
        return 1
    try:
        data = base64.b64decode(charsmap, validate=True)
    except (binascii.Error, ValueError):
        return 1  # the library refuses it when loading
    trie = int.from_bytes(data[:4], "little")
    replacements = data[4 + trie :].split(b"\0")
    return max([1, *(len(r.decode("utf-8", "replace")) for r in replacements)])


def _bert_expansion(normalizer: dict[str, Any]) -> int:
    lowercase = bool(normalizer.get("lowercase", True))
    accents = normalizer.get("strip_accents")
    factor = 3 if normalizer.get("handle_chinese_chars", True) else 1  # spaces around each CJK character
    factor *= 4 if (lowercase if accents is None else accents) else 1  # NFD
    return factor * (3 if lowercase else 1)


def _replace_expansion(normalizer: dict[str, Any]) -> tuple[int, int]:
    pattern, content = normalizer.get("pattern"), normalizer.get("content")
    content = content if isinstance(content, str) else ""
    literal = pattern.get("String") if isinstance(pattern, dict) else None
    if isinstance(literal, str) and literal:
        return max(1, -(-len(content) // len(literal))), 0
    return 1 + len(content), len(content)


def expansion(normalizer: Any) -> tuple[int, int]:
    """How long the normalizers can make a text of n characters: at most ``factor * n + extra`` characters.

    An upper bound from the tokenizer JSON alone (a Sequence multiplies its steps): a ``Replace`` of a
    string pattern by a longer content grows by their ratio, of a regular expression (which may match the
    empty string between any two characters) by 1 + the content; ``Prepend`` adds its string once. A
    normalizer type this runtime does not know has no bound: ``ArtifactError``.
    """
    if normalizer is None:
        return 1, 0
    if not isinstance(normalizer, dict):
        raise ArtifactError("its tokenizer's normalizer is not a JSON object; re-export the model")
    kind = normalizer.get("type")
    if kind == "Sequence":
        factor, extra = 1, 0
        for step in normalizer.get("normalizers") or []:
            step_factor, step_extra = expansion(step)
            factor, extra = factor * step_factor, extra * step_factor + step_extra
        return factor, extra
    if kind in _EXPANSION or kind in _SHRINKING:
        return _EXPANSION.get(kind, 1), 0
    if kind == "BertNormalizer":
        return _bert_expansion(normalizer), 0
    if kind == "Replace":
        return _replace_expansion(normalizer)
    if kind == "Prepend":
        prepend = normalizer.get("prepend")
        return 1, len(prepend) if isinstance(prepend, str) else 0
    if kind == "Precompiled":
        return _precompiled_expansion(normalizer.get("precompiled_charsmap")), 0
    raise ArtifactError(
        f"its tokenizer has a normalizer of type {kind!r}, whose growth this runtime cannot bound; "
        "re-export the model with a tokenizer of a known kind"
    )


def _check_expansion(normalizer: Any) -> None:
    """Refuse normalizers that can multiply a text beyond ``LIMITS["expansion"]`` (or add more than
    ``LIMITS["pattern_chars"]`` characters to it): the tokenizer builds the whole normalized text, with
    ~150 bytes of bookkeeping per character, before it truncates. One crafted rule (each ``a`` becomes
    a million characters) made a 448-character line take 1.06 GB."""
    factor, extra = expansion(normalizer)
    if factor > LIMITS["expansion"] or extra > LIMITS["pattern_chars"]:
        grows = f"up to {factor:,} characters" + (f" (plus {extra:,})" if extra else "")
        raise ArtifactError(
            f"its tokenizer's normalizer can turn one character into {grows} (the limit is {LIMITS['expansion']}, "
            f"and {LIMITS['pattern_chars']:,} added to a text); the tokenizer is crafted or corrupted: "
            "re-export the model"
        )


def _count(value: Any) -> int:
    return len(value) if isinstance(value, (dict, list)) else 0


def check_tokenizer_json(tokenizer_json: str) -> None:
    """Refuse a tokenizer whose size or structure is beyond any real one (see ``LIMITS``)."""
    size = len(tokenizer_json.encode("utf-8"))
    if size > LIMITS["json_bytes"]:
        raise ArtifactError(
            f"its tokenizer is {size / 1e6:.0f} MB of JSON (limit {LIMITS['json_bytes'] / 1e6:.0f} MB); "
            "the tokenizer is crafted or corrupted: re-export the model"
        )
    try:
        spec = json.loads(tokenizer_json)
    except (ValueError, RecursionError) as exc:
        raise ArtifactError(f"its tokenizer is not valid JSON ({str(exc)[:120]}); re-export the model") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("model"), dict):
        raise ArtifactError("its tokenizer JSON has no 'model' section; re-export the model")
    model = spec["model"]
    counts = {
        "vocabulary": _count(model.get("vocab")),
        "merges": _count(model.get("merges")),
        "added_tokens": _count(spec.get("added_tokens")),
    }
    for name, count in counts.items():
        if count > LIMITS[name]:
            raise ArtifactError(
                f"its tokenizer has {count:,} {name.replace('_', ' ')} entries (limit {LIMITS[name]:,}); "
                "the tokenizer is crafted or corrupted: re-export the model"
            )
    for key in _PIPELINE:
        _depth_and_chains(spec.get(key), key.replace("_", "-"))
    _check_expansion(spec.get("normalizer"))


def load_tokenizer(tokenizer_json: str) -> Tokenizer:
    """The artifact's tokenizer, built only after ``check_tokenizer_json`` accepts it; errors are ``ArtifactError``."""
    check_tokenizer_json(tokenizer_json)
    with tokenizer_panics("loading"):
        try:
            return Tokenizer.from_str(tokenizer_json)
        except Exception as exc:  # tokenizers raises plain Exception for JSON it cannot deserialize
            raise ArtifactError(
                f"its tokenizer cannot be loaded ({str(exc).splitlines()[0][:200]}); re-export the model"
            ) from None
