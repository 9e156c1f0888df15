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

__all__ = ["Batch", "TextEncoder"]

_ONE = np.zeros(1, dtype=np.int64)


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

    def encode(self, texts: Sequence[str]) -> list[Encoding]:
        with tokenizer_panics("encoding texts"):
            if len(texts) == 1:
                # One text (an API call): `encode` skips encode_batch's hand-off to the tokenizers thread pool,
                # measured 46 vs 184 us per SST-2 phrase between graph runs (benchmarks/results/single_text.md).
                return [self.tokenizer.encode(texts[0], add_special_tokens=True)]
            return self.tokenizer.encode_batch(list(texts), add_special_tokens=True)

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
