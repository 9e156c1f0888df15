"""Fine-tuning speed: probe's training loop (fp32, and bf16 autocast) against a plain Hugging Face ``Trainer``.

Same machine, same run, same data (``--rows`` rows spread evenly over the broad prompt-injection training
set), same model (MiniLM with a 2-label head, loaded before the clock starts), batch 16, ``--max-length``
tokens, AdamW at 5e-5, one epoch, one torch thread each (figures per core; a busy machine disturbs them
least). Reported: training examples per wall-clock second and per CPU-second of the process (the latter is
what survives a machine shared with other jobs). The contenders, what a user would otherwise pick:

- ``Trainer`` (transformers, fp32, its default padding collator: every batch padded to its longest text);
- ``Trainer`` with its own length bucketing (``train_sampling_strategy="group_by_length"``) and ``bf16=True``;
- probe's loop in fp32 (``PROBE_FINETUNE_BF16=off``) and with bf16 autocast (``on``): runtime tokenization,
  length-sorted batches within windows (`probe_train.finetune_batches`).

    python -m benchmarks.finetune_speed                 # writes benchmarks/results/finetune_speed.{json,md}
    python -m benchmarks.finetune_speed --rows 480 --max-length 256 --repeats 3

Needs ``accelerate`` for the ``Trainer`` rows (``pip install accelerate``); probe itself does not.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from benchmarks.common.paths import REPO
from benchmarks.common.record import write_results

DATA = REPO / "data" / "prompt_injections_broad" / "train.csv"
RESULTS = REPO / "benchmarks" / "results" / "finetune_speed.json"


def spread(n: int, rows: int) -> list[int]:
    """``rows`` indices spread evenly over ``n`` (the file is ordered by source; every source's lengths count)."""
    return [i * n // rows for i in range(min(rows, n))]


def _timed(train: Callable[[], int]) -> dict[str, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    examples = train()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "examples": examples,
        "seconds": wall,
        "examples_per_s": examples / wall,
        "examples_per_cpu_s": examples / cpu,
    }


def probe_loop(rows: int, max_length: int, bf16: str) -> Callable[[], int]:
    """probe's own fine-tuning loop (`probe_train.finetune`): one epoch over the rows, no validation split."""
    import os
    from dataclasses import replace

    from probe_train.data import load_dataset
    from probe_train.encoder import load_encoder
    from probe_train.finetune import FinetuneSettings, finetune
    from probe_train.finetune_speed import BF16_ENV

    data = load_dataset(DATA)
    pick = spread(len(data), rows)
    data = replace(data, texts=[data.texts[i] for i in pick], y=data.y[pick])
    settings = FinetuneSettings(epochs=1, validation_size=0, checkpoint_every=0, max_length=max_length)
    encoder = load_encoder(None, max_length)

    def train() -> int:
        os.environ[BF16_ENV] = bf16
        finetune(encoder, data, None, settings)
        return rows

    return train


def trainer_loop(rows: int, max_length: int, group_by_length: bool, bf16: bool) -> Callable[[], int]:
    """A plain ``transformers.Trainer`` run over the same rows (the pooled MiniLM + linear head it builds)."""
    import csv

    import torch
    from probe_train.encoder import resolve_model
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
    )

    with DATA.open(encoding="utf-8", newline="") as f:
        records = list(csv.DictReader(f))
    records = [records[i] for i in spread(len(records), rows)]
    path = resolve_model(None)
    tokenizer = AutoTokenizer.from_pretrained(path)

    class Rows(torch.utils.data.Dataset):
        def __init__(self) -> None:
            texts = [r["text"] for r in records]
            self.encodings = tokenizer(texts, truncation=True, max_length=max_length)
            self.labels = [int(r["label"]) for r in records]

        def __len__(self) -> int:
            return len(self.labels)

        def __getitem__(self, i: int) -> dict[str, Any]:
            return {"input_ids": self.encodings["input_ids"][i], "attention_mask": self.encodings["attention_mask"][i],
                    "labels": self.labels[i]}  # fmt: skip

    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)

    def train() -> int:
        arguments = TrainingArguments(
            output_dir=str(REPO / "benchmarks" / ".work" / "finetune_speed_trainer"),
            per_device_train_batch_size=16,
            num_train_epochs=1,
            learning_rate=5e-5,
            use_cpu=True,
            report_to=[],
            save_strategy="no",
            logging_strategy="no",
            train_sampling_strategy="group_by_length" if group_by_length else "random",
            bf16=bf16,
            dataloader_num_workers=0,
            disable_tqdm=True,
        )
        Trainer(
            model=model, args=arguments, train_dataset=Rows(), data_collator=DataCollatorWithPadding(tokenizer)
        ).train()
        return rows

    return train


CONTENDERS = {
    "hf-trainer-fp32": lambda a: trainer_loop(a.rows, a.max_length, False, False),
    "hf-trainer-grouped-bf16": lambda a: trainer_loop(a.rows, a.max_length, True, True),
    "probe-fp32": lambda a: probe_loop(a.rows, a.max_length, "off"),
    "probe-bf16": lambda a: probe_loop(a.rows, a.max_length, "on"),
}


def markdown(record: dict[str, Any]) -> str:
    base = record["results"]["hf-trainer-fp32"]["examples_per_cpu_s"]
    lines = [
        "# Fine-tuning speed: probe's loop vs a plain Hugging Face Trainer",
        "",
        f"`python -m benchmarks.finetune_speed --rows {record['rows']} --max-length {record['max_length']}"
        f" --repeats {record['repeats']}`: MiniLM, {record['rows']} rows of the broad prompt-injection set, one epoch,"
        f" batch 16, {record['max_length']} tokens, one torch thread, best of {record['repeats']} interleaved runs."
        f" CPU flags: {', '.join(record['cpu_flags']) or 'none of note'}.",
        "",
        "| contender | examples/s (wall) | examples per CPU-second | vs Trainer fp32 (CPU-s) |",
        "|---|---:|---:|---:|",
    ]
    for name, r in record["results"].items():
        ratio = r["examples_per_cpu_s"] / base
        lines.append(f"| {name} | {r['examples_per_s']:.1f} | {r['examples_per_cpu_s']:.1f} | {ratio:.2f}x |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=320, help="training rows (one epoch; default 320 = 20 steps)")
    parser.add_argument("--max-length", type=int, default=128, help="tokens per text (default 128)")
    parser.add_argument("--repeats", type=int, default=2, help="interleaved repetitions, the best kept (default 2)")
    args = parser.parse_args(argv)
    import torch
    from probe_train.finetune_speed import BF16_FLAGS, cpu_flags

    torch.set_num_threads(1)
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in CONTENDERS}
    for _ in range(args.repeats):
        for name, make in CONTENDERS.items():
            runs[name].append(_timed(make(args)))
            print(f"{name}: {runs[name][-1]}", flush=True)
    flags = sorted(f for f in cpu_flags() if f in BF16_FLAGS | {"avx2", "avx512f", "avx512_vnni", "amx_int8"})
    record = {
        "rows": args.rows,
        "max_length": args.max_length,
        "repeats": args.repeats,
        "cpu_flags": flags,
        "results": {name: max(r, key=lambda x: x["examples_per_cpu_s"]) for name, r in runs.items()},
        "all_runs": runs,
    }
    write_results(RESULTS, record, markdown(record))
    print(f"wrote {RESULTS.relative_to(REPO)}")


if __name__ == "__main__":
    main()
