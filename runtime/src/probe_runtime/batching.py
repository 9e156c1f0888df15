"""Tokenize once, sort by length, pad per batch.

Padding every text to the longest one in the *whole* input wastes most of the compute on short
texts; sorting by length first and padding only to the longest text of each batch was worth 2-3x
on short texts in our measurements.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from tokenizers import Encoding, Tokenizer

from .tokenizer_guard import load_tokenizer, tokenizer_panics

__all__ = ["CHARS_PER_TOKEN", "Batch", "TextEncoder", "clip_text"]

_ONE = np.zeros(1, dtype=np.int64)
# The characters of one text handed to the tokenizer: at most this many per token the model can read
# (max_length when truncating; every window's when windowing). The tokenizer builds all of a text's tokens,
# offsets and alignments before truncating, ~150 bytes per character: one 10 MB line took 1.5 GB and 15 s
# to classify and as much to train on. Real text needs ~4-6 characters per token (English WordPiece), so
# 32 reads every token the model can take on any ordinary text; what lies beyond the clip (the text is
# then reported as not wholly read) could never have reached the model anyway, unless a text averages more
# than 32 characters per token (very long whitespace runs, or 100+ character "words" that become [UNK]).
CHARS_PER_TOKEN = 32


def clip_text(text: str, tokens: int) -> tuple[str, bool]:
    """The start of ``text`` that the tokenizer needs to produce ``tokens`` tokens, and whether it was cut.

    At most ``CHARS_PER_TOKEN * tokens`` characters, cut after the last whitespace of the second half when
    there is one, so no word is split (its pieces would be other tokens); the cut is far beyond the tokens
    the model reads, which are then exactly those of the whole text.
    """
    limit = CHARS_PER_TOKEN * tokens
    if len(text) <= limit:
        return text, False
    head = text[:limit]
    for at in range(limit - 1, limit // 2, -1):
        if head[at].isspace():
            return head[:at], True
    return head, True


@dataclass(frozen=True)
class Batch:
    """Rows ``positions`` of the encoded input, as the graph's named inputs."""

    positions: np.ndarray
    feeds: dict[str, np.ndarray]


class TextEncoder:
    """The artifact's own tokenizer, configured explicitly from the manifest.

    Tokenizer files often carry padding/truncation settings of their own (the MiniLM one pads to
    128); we switch those off and decide ourselves, so the runtime behaves the same for every model.
    """

    def __init__(
        self, tokenizer: str | Tokenizer, max_length: int, pad_token_id: int, input_names: Sequence[str]
    ) -> None:
        # A JSON string is loaded within bounds; a Tokenizer (already checked by the loader) is taken
        # over as is: the encoder owns it afterwards and changes its padding and truncation.
        self.tokenizer = load_tokenizer(tokenizer) if isinstance(tokenizer, str) else tokenizer
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length)
        self.max_length = max_length
        self.pad_token_id = pad_token_id
        self.input_names = tuple(input_names)
        # No character offsets are read here, so tokenizers' encode_batch_fast (0.21 and later) skips computing
        # them; the declared floor (tokenizers>=0.15.0) lacks it, and gets the same ids from encode_batch.
        self._encode_batch = getattr(self.tokenizer, "encode_batch_fast", self.tokenizer.encode_batch)

    def encode(self, texts: Sequence[str]) -> list[Encoding]:
        """Each text's first ``max_length`` tokens (the rest in ``Encoding.overflowing``); see `encode_clipped`."""
        return self.encode_clipped(texts)[0]

    def encode_clipped(self, texts: Sequence[str]) -> tuple[list[Encoding], np.ndarray]:
        """The encodings, and per text whether it was clipped before tokenizing (`clip_text`): part unread."""
        clipped = [clip_text(text, self.max_length) for text in texts]
        cut = np.fromiter((was_cut for _, was_cut in clipped), dtype=bool, count=len(clipped))
        heads = [head for head, _ in clipped] if cut.any() else texts
        with tokenizer_panics("encoding texts"):
            if len(heads) == 1:
                # One text (an API call): `encode` skips encode_batch's hand-off to the tokenizers thread pool,
                # measured 46 vs 184 us per SST-2 phrase between graph runs (benchmarks/results/single_text.md).
                return [self.tokenizer.encode(heads[0], add_special_tokens=True)], cut
            return self._encode_batch(list(heads), add_special_tokens=True), cut

    def batches(self, encodings: Sequence[Encoding], batch_size: int, max_tokens: int) -> Iterator[Batch]:
        """Length-sorted batches of at most ``batch_size`` texts and ``max_tokens`` padded tokens."""
        if len(encodings) == 1:  # one text (an API call): no sorting, no padding to plan
            yield Batch(_ONE, self._pad(encodings))
            return
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(encodings))
        order = np.argsort(lengths, kind="stable")
        start = 0
        while start < len(order):
            stop = start + 1
            # Sorted ascending, so the last row of a batch is its longest.
            while (
                stop < len(order)
                and stop - start < batch_size
                and (stop - start + 1) * lengths[order[stop]] <= max_tokens
            ):
                stop += 1
            positions = order[start:stop]
            yield Batch(positions, self._pad([encodings[i] for i in positions]))
            start = stop

    def _pad(self, encodings: Sequence[Encoding]) -> dict[str, np.ndarray]:
        if len(encodings) == 1:  # nothing to pad: the rows as they are
            ids = np.array([encodings[0].ids], dtype=np.int64)
            one = {"input_ids": ids, "attention_mask": np.ones_like(ids)}
            if "token_type_ids" in self.input_names:
                one["token_type_ids"] = np.array([encodings[0].type_ids], dtype=np.int64)
            return {name: one[name] for name in self.input_names}
        width = max(len(e.ids) for e in encodings)
        ids = np.full((len(encodings), width), self.pad_token_id, dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        types = np.zeros((len(encodings), width), dtype=np.int64)
        for row, enc in enumerate(encodings):
            n = len(enc.ids)
            ids[row, :n] = enc.ids
            mask[row, :n] = 1
            types[row, :n] = enc.type_ids
        available = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        return {name: available[name] for name in self.input_names}
