"""One text costs memory in proportion to its size, whatever its length or the artifact's tokenizer says.

Before a text reaches the tokenizer it is clipped at `CHARS_PER_TOKEN` characters per token the model can
read (after a whitespace), so the tokenizer's bookkeeping (~150 bytes a character) is bounded by the
model's window, not by the text: one 10 MB line took 1.5 GB to classify. The clip must never change
what the model reads of an ordinary text, and a clipped text is reported as read only in part.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from probe_runtime import Classifier
from probe_runtime.batching import CHARS_PER_TOKEN, clip_text
from probe_runtime.cli import main as runtime_main
from probe_runtime.tokenizer_guard import LIMITS, expansion
from tokenizers import Tokenizer

WORDS = "the movie was great and the plot was awful but the hotel was lovely "


@pytest.fixture(scope="module")
def fp32(tiny_artifacts) -> Path:
    return tiny_artifacts["fp32"]


def _reference(clf: Classifier, stride: int | None = None) -> Tokenizer:
    """The artifact's tokenizer with truncation (and windows) only: it tokenizes the whole text, as before."""
    tokenizer = Tokenizer.from_str(clf.encoder.tokenizer.to_str())
    tokenizer.no_padding()
    tokenizer.enable_truncation(clf.manifest.max_length, stride=stride or 0)
    return tokenizer


def test_a_clipped_text_gives_the_model_exactly_the_tokens_of_the_whole_text(fp32):
    clf = Classifier.load(fp32, threads=1)
    text = WORDS * 2000  # 136,000 characters, ~60x the clip for this model
    assert clip_text(text, clf.manifest.max_length)[1]
    (encoding,) = clf.encoder.encode([text])
    assert encoding.ids == _reference(clf).encode(text).ids
    assert clf.classify(text).truncated


def test_clipped_windows_are_the_windows_of_the_whole_text(fp32):
    clf = Classifier.load(fp32, threads=1, long_text="window", max_windows=5)
    text = WORDS * 2000
    windows, _, coverage = clf._text.windower.encode([text])
    whole = _reference(clf, clf.long_text.stride).encode(text)
    assert [w.ids for w in windows] == [e.ids for e in [whole, *whole.overflowing][:5]]
    assert coverage.windows.tolist() == [5] and coverage.truncated.tolist() == [True]


def test_a_text_clipped_before_the_model_was_full_says_it_was_read_only_in_part(fp32):
    """Whitespace is free for the tokenizer: 200,000 spaces hold a word the clip never lets it see."""
    clf = Classifier.load(fp32, threads=1)
    text = "great" + " " * 200_000 + "awful"
    assert len(clf.encoder.encode([text])[0].ids) < clf.manifest.max_length  # the model had room left
    prediction = clf.classify(text)
    assert prediction.truncated and prediction.windows == 1


def test_ordinary_texts_are_not_clipped():
    text = WORDS * 10
    assert clip_text(text, 64) == (text, False)
    head, cut = clip_text("x" * (CHARS_PER_TOKEN * 64 + 1), 64)
    assert cut and len(head) == CHARS_PER_TOKEN * 64  # one huge "word": cut where the limit falls


def test_every_row_of_a_windowed_run_says_how_much_of_its_text_was_read(fp32, tmp_path):
    """The 64-window cap stops a long text part way: the row says so (windows, truncated)."""
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"text": WORDS * 2000}) + "\n" + json.dumps({"text": "a fine film"}) + "\n")
    for fmt in ("jsonl", "csv"):
        out = tmp_path / f"out.{fmt}"
        assert runtime_main(["classify", str(fp32), str(src), "-o", str(out), "--long-text", "window"]) == 0
        lines = out.read_text().splitlines()
        if fmt == "jsonl":
            rows = [json.loads(line) for line in lines]
            assert [(r["windows"], r["truncated"]) for r in rows] == [(64, True), (1, False)]
        else:
            assert lines[0] == "id,label,score,windows,truncated"
            assert [line.split(",")[-2:] for line in lines[1:]] == [["64", "True"], ["1", "False"]]


# Peak memory one text may add: reading it holds its bytes and its str at once (2x), the tokenizer's
# share is bounded by the clip. Measured: 1.99x for a 10 MB line (truncate), 2.45x with windows (the
# tiny model's 64 windows read 2,960 tokens, so up to 94,720 characters reach the tokenizer).
MEMORY_MULTIPLE = 3


@pytest.mark.parametrize("policy", ["truncate", "window"])
def test_one_10_mb_line_costs_at_most_three_times_its_size(fp32, tmp_path, policy):
    """It cost 1.5 GB (150x) and 15 s before the clip; measured in a process of its own."""
    line = tmp_path / "line.txt"
    line.write_text((WORDS * 150_000)[:10_000_000], encoding="utf-8")
    script = textwrap.dedent(
        f"""
        import json, resource
        from probe_runtime import Classifier
        clf = Classifier.load({str(fp32)!r}, threads=1, long_text={policy!r})
        clf.classify(["a few words to warm up"])
        peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        before = peak()
        with open({str(line)!r}, encoding="utf-8") as f:
            text = f.read()
        prediction = clf.classify(text)
        print(json.dumps({{"added": peak() - before, "truncated": prediction.truncated}}))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["truncated"]
    assert result["added"] <= MEMORY_MULTIPLE * line.stat().st_size, result


def test_real_tokenizers_grow_text_within_the_bound(fp32):
    """BERT's normalizer (MiniLM, MPNet and the test encoders) may grow a text 36x at most (CJK spacing,
    NFD, lowercasing); a SentencePiece nmt_nfkc charsmap 18x (measured: U+FDFA becomes 18 characters)."""
    spec = json.loads(Classifier.load(fp32).encoder.tokenizer.to_str())
    assert expansion(spec["normalizer"]) == (36, 0)
    assert expansion({"type": "Sequence", "normalizers": [{"type": "NFKC"}, {"type": "Lowercase"}]}) == (54, 0)
    llama = [{"type": "Prepend", "prepend": "▁"}, {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]
    assert expansion({"type": "Sequence", "normalizers": llama}) == (1, 1)
    assert max(36, 54) <= LIMITS["expansion"]


def test_training_embeds_one_10_mb_line_within_three_times_its_size(tiny_encoder, tmp_path):
    """`probe train` tokenizes with the runtime's encoder, so the clip bounds it too (1.97 GB before)."""
    line = tmp_path / "line.txt"
    line.write_text((WORDS * 150_000)[:10_000_000], encoding="utf-8")
    script = textwrap.dedent(
        f"""
        import json, resource
        from probe_train.embeddings import embed_texts
        from probe_train.encoder import load_encoder
        encoder = load_encoder({str(tiny_encoder)!r})
        embed_texts(encoder, ["a few words to warm up"], show_progress=False)
        peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        before = peak()
        with open({str(line)!r}, encoding="utf-8") as f:
            text = f.read()
        embed_texts(encoder, [text, "a fine film"], show_progress=False)
        print(json.dumps({{"added": peak() - before}}))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["added"] <= MEMORY_MULTIPLE * line.stat().st_size, done.stdout
