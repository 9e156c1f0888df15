"""Mistakes with `probe train`, `probe embed` and `probe export`: outputs that would destroy the user's
files (each with a check that the victim is byte-identical afterwards), bad option values, encoders that
ask to run code, damaged model directories."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

from tests.catalogue.case import Case, Context, Outcome, probe

_BEFORE: dict[Path, dict[str, str]] = {}
_PROXIES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy")


def _hashes(root: Path) -> dict[str, str]:
    root = Path(root)
    if root.is_file():
        return {".": hashlib.sha256(root.read_bytes()).hexdigest()}
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(root.rglob("*"))
    }


def _victim(ctx: Context, path: Path) -> Path:
    """Remember every byte of ``path`` before the command runs; `_untouched` compares afterwards."""
    _BEFORE[ctx.tmp] = _hashes(path)
    _BEFORE[ctx.tmp / ".path"] = {"path": str(path)}
    return path


def _untouched(ctx: Context) -> None:
    path = Path(_BEFORE[ctx.tmp / ".path"]["path"])
    assert _hashes(path) == _BEFORE[ctx.tmp], f"{path} changed"


def _hf_folder(ctx: Context) -> Path:
    folder = ctx.tmp / "bert-base-uncased"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "bert", "hidden_size": 768}\n')
    (folder / "model.safetensors").write_bytes(os.urandom(2048))
    (folder / "vocab.txt").write_text("[PAD]\n[UNK]\n")
    return folder


def _project(ctx: Context) -> Path:
    root = ctx.tmp / "project"
    root.mkdir()
    (root / "config.json").write_text('{"name": "my project"}\n')
    shutil.copy(ctx.train_csv, root / "train.csv")
    return root


def _model(ctx: Context) -> Path:
    """A private copy of the session's trained model directory (the original is shared)."""
    return shutil.copytree(ctx.trained, ctx.tmp / "model")


@contextlib.contextmanager
def _cwd(path: Path) -> Iterator[None]:
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def _train(ctx: Context, *extra: object, data: Path | None = None) -> Outcome:
    args = ["train", data or ctx.train_csv, "--test", ctx.test_csv, "-m", ctx.encoder, *extra]
    return probe([str(a) for a in args])


# --- train ---------------------------------------------------------------------------------------------


def train_over_hf_folder(ctx: Context) -> Outcome:
    return _train(ctx, "--out", _victim(ctx, _hf_folder(ctx)), "--overwrite")


def train_into_data_folder(ctx: Context) -> Outcome:
    project = _victim(ctx, _project(ctx))
    with _cwd(project):  # cd project && probe train train.csv --out .
        return probe(["train", "train.csv", "-m", str(ctx.encoder), "--out", "."])


def train_over_encoder(ctx: Context) -> Outcome:
    encoder = _victim(ctx, shutil.copytree(ctx.encoder, ctx.tmp / "encoder"))
    return probe(["train", str(ctx.train_csv), "-m", str(encoder), "--out", str(encoder)])


def train_over_test_file(ctx: Context) -> Outcome:
    test = _victim(ctx, Path(shutil.copy(ctx.test_csv, ctx.tmp / "test.csv")))
    return probe(["train", str(ctx.train_csv), "--test", str(test), "-m", str(ctx.encoder), "--out", str(test)])


def train_overwrite_foreign_dir(ctx: Context) -> Outcome:
    fake = ctx.tmp / "results"
    fake.mkdir()
    (fake / "config.json").write_text('{"format": "my-own-format"}\n')
    (fake / "head.npz").write_bytes(b"my own results")
    return _train(ctx, "--out", _victim(ctx, fake), "--overwrite")


def train_existing_model(ctx: Context) -> Outcome:
    return _train(ctx, "--out", _victim(ctx, _model(ctx)))


def train_foreign_checkpoint(ctx: Context) -> Outcome:
    checkpoint = ctx.tmp / "m.checkpoint"
    checkpoint.mkdir()
    (checkpoint / "last.pt").write_bytes(b"someone else's run")
    return _train(ctx, "--out", ctx.tmp / "m", "--method", "finetune", "--epochs", "1", "--resume")


def train_out_under_file(ctx: Context) -> Outcome:
    notes = _victim(ctx, ctx.tmp / "notes.txt")
    notes.write_text("mine\n")
    _BEFORE[ctx.tmp] = _hashes(notes)
    return _train(ctx, "--out", notes / "model")


def train_remote_code(ctx: Context) -> Outcome:
    encoder = shutil.copytree(ctx.encoder, ctx.tmp / "custom-encoder")
    config = json.loads((encoder / "config.json").read_text())
    config["auto_map"] = {"AutoModel": "modeling_custom.CustomModel"}
    (encoder / "config.json").write_text(json.dumps(config))
    (encoder / "modeling_custom.py").write_text(f"open({str(ctx.tmp / 'ran')!r}, 'w')\n")
    return probe(["train", str(ctx.train_csv), "-m", str(encoder), "--out", str(ctx.tmp / "m")])


def _no_code_ran(ctx: Context) -> None:
    assert not (ctx.tmp / "ran").exists() and not (ctx.tmp / "m").exists()


def train_encoder_without_config(ctx: Context) -> Outcome:
    folder = ctx.tmp / "downloads"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"weights")
    return _train(ctx, "--out", ctx.tmp / "m", "--model", folder)


def train_encoder_without_tokenizer(ctx: Context) -> Outcome:
    encoder = shutil.copytree(ctx.encoder, ctx.tmp / "encoder")
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt"):
        (encoder / name).unlink(missing_ok=True)
    return _train(ctx, "--out", ctx.tmp / "m", "--model", encoder)


def _nothing_written(ctx: Context) -> None:
    assert not (ctx.tmp / "m").exists() and not (ctx.tmp / "v.npy").exists() and not (ctx.tmp / "m.onnx").exists()


def _train_from_hub(**environment: str | None) -> callable:
    """`probe train --model nobody-here/no-such-encoder` with ``environment`` (None unsets a variable), timed:
    huggingface_hub's own retries took 32 s and 22 warning lines; the answer must come in seconds."""

    def run(ctx: Context) -> Outcome:
        saved = {name: os.environ.get(name) for name in environment}
        for name, value in environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        started = time.perf_counter()
        try:
            outcome = probe(
                ["train", str(ctx.train_csv), "-m", "nobody-here/no-such-encoder", "--out", str(ctx.tmp / "m")]
            )
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        assert time.perf_counter() - started < 15, "the Hub's retries were waited out"
        return outcome

    return run


def _no_checkpoint(ctx: Context) -> None:
    _nothing_written(ctx)
    assert not (ctx.tmp / "m.checkpoint").exists()


def finetune_bad_bf16_setting(ctx: Context) -> Outcome:
    saved = os.environ.get("PROBE_FINETUNE_BF16")
    os.environ["PROBE_FINETUNE_BF16"] = "fast"
    try:
        return probe(
            ["train", str(ctx.train_csv), "-m", str(ctx.encoder), "--method", "finetune", "--out", str(ctx.tmp / "m")]
        )
    finally:
        if saved is None:
            os.environ.pop("PROBE_FINETUNE_BF16", None)
        else:
            os.environ["PROBE_FINETUNE_BF16"] = saved


# --- embed ---------------------------------------------------------------------------------------------


def embed_over_its_csv(ctx: Context) -> Outcome:
    data = _victim(ctx, Path(shutil.copy(ctx.test_csv, ctx.tmp / "texts.csv")))
    return probe(["embed", str(data), "-m", str(ctx.encoder), "--out", str(data)])


def embed_over_other_file(ctx: Context) -> Outcome:
    other = _victim(ctx, Path(shutil.copy(ctx.train_csv, ctx.tmp / "train.csv")))
    return probe(["embed", str(ctx.test_csv), "-m", str(ctx.encoder), "--out", str(other), "--overwrite"])


def embed_long_max_length(ctx: Context) -> Outcome:
    args = ["embed", ctx.test_csv, "-m", ctx.encoder, "--out", ctx.tmp / "v.npy", "--max-length", "100000"]
    return probe([str(a) for a in args])


# --- export --------------------------------------------------------------------------------------------


def _export(ctx: Context, model: Path, *extra: object) -> Outcome:
    return probe([str(a) for a in ("export", model, *extra)])


def export_over_model_config(ctx: Context) -> Outcome:
    model = _victim(ctx, _model(ctx))
    return _export(ctx, model, "--out", model / "config.json", "--overwrite")


def export_over_foreign_file(ctx: Context) -> Outcome:
    target = _victim(ctx, ctx.tmp / "classifier.onnx")
    target.write_bytes(b"\x08\x07 someone else's model")
    _BEFORE[ctx.tmp] = _hashes(target)
    return _export(ctx, ctx.trained, "--out", target, "--overwrite")


def export_existing_artifact(ctx: Context) -> Outcome:
    target = _victim(ctx, Path(shutil.copy(ctx.model, ctx.tmp / "model.onnx")))
    return _export(ctx, ctx.trained, "--out", target)


def export_over_eval_file(ctx: Context) -> Outcome:
    data = _victim(ctx, Path(shutil.copy(ctx.test_csv, ctx.tmp / "eval.csv")))
    return _export(ctx, ctx.trained, "--out", data, "--eval", data, "--overwrite")


def _damaged(piece: str, damage: str | bytes | None) -> callable:
    def run(ctx: Context) -> Outcome:
        model = _model(ctx)
        if damage is None:
            (model / piece).unlink()
        elif isinstance(damage, bytes):
            (model / piece).write_bytes(damage)
        else:
            (model / piece).write_text(damage)
        return _export(ctx, model, "--out", ctx.tmp / "m.onnx")

    return run


def _edited_config(**changes: object) -> callable:
    def run(ctx: Context, model: Path | None = None) -> Outcome:
        model = model or _model(ctx)
        config = json.loads((model / "config.json").read_text())
        config.update(changes)
        (model / "config.json").write_text(json.dumps(config))
        return _export(ctx, model, "--out", ctx.tmp / "m.onnx")

    return run


def export_wide_head(ctx: Context) -> Outcome:
    import numpy as np

    model = _model(ctx)
    np.savez(model / "head.npz", weight=np.zeros((2, 64), np.float32), bias=np.zeros(2, np.float32))
    return _export(ctx, model, "--out", ctx.tmp / "m.onnx")


def export_layer_default_encoder_lacks(ctx: Context) -> Outcome:
    """A head as wide as MiniLM's hidden size, on layer 9 of its 6."""
    import numpy as np

    model = _model(ctx)
    np.savez(model / "head.npz", weight=np.zeros((2, 384), np.float32), bias=np.zeros(2, np.float32))
    return _edited_config(encoder="minilm", layer=9)(ctx, model)


def export_finetuned_without_encoder(ctx: Context) -> Outcome:
    return _edited_config(method="finetune")(ctx)


def export_model_is_file(ctx: Context) -> Outcome:
    return _export(ctx, ctx.test_csv, "--out", ctx.tmp / "m.onnx")


CASES = [
    Case(
        "train-out-hf-model-folder",
        "train",
        "--out names a Hugging Face model folder (it has a config.json), with --overwrite",
        train_over_hf_folder,
        "is not a probe model directory written by probe",
        2,
        _untouched,
    ),
    Case(
        "train-out-dot-holds-the-data",
        "train",
        "`cd project && probe train train.csv --out .`: the output directory holds the data",
        train_into_data_folder,
        "contains the training data",
        2,
        _untouched,
    ),
    Case(
        "train-out-is-the-encoder",
        "train",
        "`probe train --model M --out M`",
        train_over_encoder,
        "is the encoder",
        2,
        _untouched,
    ),
    Case(
        "train-out-is-the-test-file",
        "train",
        "--out names the --test file",
        train_over_test_file,
        "is the test data",
        2,
        _untouched,
    ),
    Case(
        "train-overwrite-foreign-dir",
        "train",
        "--overwrite on a directory with a config.json that probe did not write",
        train_overwrite_foreign_dir,
        "is not a probe model directory written by probe",
        2,
        _untouched,
    ),
    Case(
        "train-out-exists",
        "train",
        "--out is a model directory from an earlier run, without --overwrite",
        train_existing_model,
        "pass --overwrite to replace it",
        2,
        _untouched,
    ),
    Case(
        "train-foreign-checkpoint-dir",
        "train",
        "--method finetune while OUT.checkpoint/ holds files probe did not write",
        train_foreign_checkpoint,
        "is not a checkpoint directory written by probe",
        2,
    ),
    Case(
        "train-out-under-a-file",
        "train",
        "--out is below a file (notes.txt/model)",
        train_out_under_file,
        "is a file, not a directory",
        2,
        _untouched,
    ),
    Case(
        "train-out-unwritable",
        "train",
        "--out in a place nothing can be written (/proc)",
        lambda ctx: _train(ctx, "--out", "/proc/probe-model"),
        "Choose another --out",
        2,
    ),
    Case(
        "train-hub-unreachable",
        "train",
        "--model names a Hub id on a machine that cannot reach the Hub (here: HF_ENDPOINT on a closed local port)",
        _train_from_hub(HF_ENDPOINT="http://127.0.0.1:9", HF_HUB_OFFLINE=None, **dict.fromkeys(_PROXIES)),
        "encoder 'nobody-here/no-such-encoder' is not on this machine and the Hugging Face Hub cannot be reached",
        1,
        _nothing_written,
    ),
    Case(
        "train-hub-offline-not-cached",
        "train",
        "--model names a Hub id that is not in the cache, with HF_HUB_OFFLINE=1",
        _train_from_hub(HF_HUB_OFFLINE="1"),
        "is not in the local Hugging Face cache and HF_HUB_OFFLINE=1 forbids downloading it",
        1,
        _nothing_written,
    ),
    Case(
        "train-max-length-100000",
        "train",
        "--max-length 100000 on an encoder with 128 positions",
        lambda ctx: _train(ctx, "--out", ctx.tmp / "m", "--max-length", "100000"),
        "its position table holds 128 tokens. Use --max-length 128 or less",
        2,
        _nothing_written,
    ),
    Case(
        "train-static-dims-above-hidden",
        "train",
        "--encoder static --static-dims 64 on an encoder with 32-dimensional vectors",
        lambda ctx: _train(ctx, "--out", ctx.tmp / "m", "--encoder", "static", "--static-dims", "64"),
        "--static-dims is 64, but",
        2,
        _nothing_written,
    ),
    Case(
        "train-static-dims-0",
        "train",
        "--static-dims 0",
        lambda ctx: _train(ctx, "--out", ctx.tmp / "m", "--encoder", "static", "--static-dims", "0"),
        "argument --static-dims: must be at least 1, not 0",
        2,
        _nothing_written,
    ),
    Case(
        "train-static-dims-without-static",
        "train",
        "--static-dims without --encoder static",
        lambda ctx: _train(ctx, "--out", ctx.tmp / "m", "--static-dims", "16"),
        "--static-dims is for --encoder static",
        2,
        _nothing_written,
    ),
    Case(
        "train-static-with-layer",
        "train",
        "--encoder static with --layer (a static table reads no layer)",
        lambda ctx: _train(ctx, "--out", ctx.tmp / "m", "--encoder", "static", "--layer", "1"),
        "--layer does not apply to --encoder static",
        2,
        _nothing_written,
    ),
    Case(
        "train-static-with-pooling",
        "train",
        "--encoder static with --pooling (a static table pools by its weighted mean)",
        lambda ctx: _train(ctx, "--out", ctx.tmp / "m", "--encoder", "static", "--pooling", "cls"),
        "--pooling does not apply to --encoder static",
        2,
        _nothing_written,
    ),
    Case(
        "train-static-finetune-resume",
        "train",
        "--encoder static --method finetune --resume (a table fine-tunes in seconds: no checkpoints)",
        lambda ctx: _train(ctx, "--out", ctx.tmp / "m", "--encoder", "static", "--method", "finetune", "--resume"),
        "--resume does not apply to --encoder static",
        2,
        _nothing_written,
    ),
    Case(
        "train-batch-size-0",
        "train",
        "--batch-size 0",
        lambda ctx: _train(ctx, "--out", ctx.tmp / "m", "--batch-size", "0"),
        "argument --batch-size: must be at least 1, not 0",
        2,
        _nothing_written,
    ),
    Case(
        "train-test-size-1.5",
        "train",
        "--test-size 1.5",
        lambda ctx: probe(["train", str(ctx.train_csv), "--out", str(ctx.tmp / "m"), "--test-size", "1.5"]),
        "argument --test-size: must be between 0 and 1 (exclusive), not 1.5",
        2,
        _nothing_written,
    ),
    Case(
        "train-layer-out-of-range",
        "train",
        "--layer 7 on a 2-layer encoder",
        lambda ctx: _train(ctx, "--out", ctx.tmp / "m", "--layer", "7"),
        "--layer 7 is out of range: this encoder has layers 0..2",
        2,
        _nothing_written,
    ),
    Case(
        "train-remote-code-encoder",
        "train",
        "--model is a folder whose config.json asks to run its own code (auto_map)",
        train_remote_code,
        "asks to run its own Python code (auto_map in config.json: modeling_custom.CustomModel)",
        1,
        _no_code_ran,
    ),
    Case(
        "train-encoder-without-config",
        "train",
        "--model is a folder without a config.json",
        train_encoder_without_config,
        "is not a directory with a Hugging Face model in it (no config.json)",
        1,
        _nothing_written,
    ),
    Case(
        "train-encoder-without-tokenizer",
        "train",
        "--model is a folder whose tokenizer files are missing (transformers would build an empty one)",
        train_encoder_without_tokenizer,
        "has no vocabulary beyond its special tokens",
        1,
        _nothing_written,
    ),
    Case(
        "embed-out-is-the-csv",
        "embed",
        "`probe embed DATA.csv --out DATA.csv`",
        embed_over_its_csv,
        "is the data",
        2,
        _untouched,
    ),
    Case(
        "embed-overwrite-non-npy",
        "embed",
        "--overwrite with --out naming a CSV file",
        embed_over_other_file,
        "is not a .npy file written by probe",
        2,
        _untouched,
    ),
    Case(
        "embed-max-length-100000",
        "embed",
        "--max-length 100000 on an encoder with 128 positions",
        embed_long_max_length,
        "Use --max-length 128 or less",
        2,
        _nothing_written,
    ),
    Case(
        "export-out-is-model-config",
        "export",
        "`probe export DIR --out DIR/config.json --overwrite`",
        export_over_model_config,
        "is inside the model directory",
        2,
        _untouched,
    ),
    Case(
        "export-overwrite-foreign-file",
        "export",
        "--overwrite with --out naming a file that is not a probe artifact",
        export_over_foreign_file,
        "is not a probe artifact (.onnx) written by probe",
        2,
        _untouched,
    ),
    Case(
        "export-out-exists",
        "export",
        "--out is an artifact from an earlier export, without --overwrite",
        export_existing_artifact,
        "pass --overwrite to replace it",
        2,
        _untouched,
    ),
    Case(
        "export-out-is-eval-file",
        "export",
        "--out names the --eval file",
        export_over_eval_file,
        "is the --eval file",
        2,
        _untouched,
    ),
    Case(
        "export-missing-head",
        "export",
        "the model directory lost its head.npz",
        _damaged("head.npz", None),
        "head.npz: missing (it holds the classifier's weights)",
        1,
        _nothing_written,
    ),
    Case(
        "export-damaged-config",
        "export",
        "the model directory's config.json is cut short",
        _damaged("config.json", '{"format": "probe-trained-model", '),
        "config.json: not valid JSON",
        1,
        _nothing_written,
    ),
    Case(
        "export-eval-label-model-lacks",
        "export",
        "the model directory's eval.jsonl has a label the model does not know",
        _damaged("eval.jsonl", '{"text": "fine", "label": "neutral"}\n'),
        "eval.jsonl: line 1 has the label 'neutral', which the model lacks",
        1,
        _nothing_written,
    ),
    Case(
        "export-damaged-head",
        "export",
        "the model directory's head.npz is not a NumPy archive",
        _damaged("head.npz", b"PK\x03\x04 truncated"),
        "head.npz: cannot be read",
        1,
        _nothing_written,
    ),
    Case(
        "export-layer-encoder-lacks",
        "export",
        "the model's config.json names layer 7 of a 2-layer encoder",
        _edited_config(layer=7),
        "field 'layer' is 7 but encoder",
        1,
        _nothing_written,
    ),
    Case(
        "export-unknown-pooling",
        "export",
        "the model's config.json names a pooling probe does not have",
        _edited_config(pooling="median"),
        "field 'pooling' is 'median', not one of ['cls', 'max', 'mean']",
        1,
        _nothing_written,
    ),
    Case(
        "export-max-length-beyond-encoder",
        "export",
        "the model's config.json has max_length 100000 for an encoder with 128 positions",
        _edited_config(max_length=100000),
        "field 'max_length' is 100000 but encoder",
        1,
        _nothing_written,
    ),
    Case(
        "export-head-wider-than-encoder",
        "export",
        "head.npz is 64 wide, the encoder 32",
        export_wide_head,
        "the head is 64 wide but encoder",
        1,
        _nothing_written,
    ),
    Case(
        "export-head-on-default-encoder",
        "export",
        "a 32-wide head on the default encoder `minilm` (384 wide): an alias, no ENCODER/config.json to read",
        _edited_config(encoder="minilm"),
        "the head is 32 wide but encoder minilm has hidden size 384",
        1,
        _nothing_written,
    ),
    Case(
        "export-layer-default-encoder-lacks",
        "export",
        "the model's config.json names layer 9 of the default encoder `minilm` (6 layers)",
        export_layer_default_encoder_lacks,
        "field 'layer' is 9 but encoder minilm has layers 0..6",
        1,
        _nothing_written,
    ),
    Case(
        "export-finetuned-without-encoder",
        "export",
        "a fine-tuned model directory lost its encoder/ folder",
        export_finetuned_without_encoder,
        "encoder: missing (a fine-tuned model keeps its encoder there)",
        1,
        _nothing_written,
    ),
    Case(
        "export-model-is-a-file",
        "export",
        "the model directory argument is a CSV file",
        export_model_is_file,
        "is a file, not a model directory",
        1,
        _nothing_written,
    ),
    Case(
        "export-negative-flip-rate",
        "export",
        "--max-flip-rate -1",
        lambda ctx: _export(ctx, ctx.trained, "--out", ctx.tmp / "m.onnx", "--max-flip-rate", "-1"),
        "argument --max-flip-rate: must be a number of 0 or more, not -1",
        2,
        _nothing_written,
    ),
    Case(
        "train-finetune-bf16-setting",
        "train",
        "`PROBE_FINETUNE_BF16=fast probe train --method finetune` (the variable takes auto, on or off)",
        finetune_bad_bf16_setting,
        "PROBE_FINETUNE_BF16 must be one of auto, on, off",
        2,
        _no_checkpoint,
    ),
]
