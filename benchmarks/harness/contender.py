"""One contender, measured in a fresh process: ``python -m benchmarks.harness.contender KIND --texts FILE ...``.

Run by ``benchmarks.harness`` in the environment the contender needs (runtime-only, torch, or Optimum's
older transformers). Prints one JSON object: cold start (from the parent's spawn time to the first
prediction), throughput over all texts, batch-1 latencies, peak RSS and every text's argmax.
Every contender ends in the same probe head: ``softmax(weight @ mean_pooled + bias)``. Imports
are local to each contender so that a process only loads the library it measures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from collections.abc import Callable

import numpy as np

Predict = Callable[[list[str]], np.ndarray]


def head_fn(path: str) -> Callable[[np.ndarray], np.ndarray]:
    data = np.load(path, allow_pickle=False)
    weight, bias = data["weight"].astype(np.float32), data["bias"].astype(np.float32)

    def head(pooled: np.ndarray) -> np.ndarray:
        logits = pooled @ weight.T + bias
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)

    return head


def probe_runtime(args: argparse.Namespace) -> Predict:
    from probe_runtime import Classifier

    clf = Classifier.load(args.model, threads=args.threads, spinning=args.spin)
    return lambda texts: clf.predict_proba(texts)


def torch_eager(args: argparse.Namespace, sort: bool) -> Predict:
    """The seeds' way: transformers AutoModel, padded batches, mean pooling, the head in numpy."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    torch.set_num_threads(args.threads)
    tokenizer = AutoTokenizer.from_pretrained(args.encoder)
    model = AutoModel.from_pretrained(args.encoder).eval()
    head = head_fn(args.head)

    def predict(texts: list[str]) -> np.ndarray:
        order = sorted(range(len(texts)), key=lambda i: len(texts[i])) if sort else list(range(len(texts)))
        out = None
        with torch.inference_mode():
            for start in range(0, len(order), args.batch_size):
                idx = order[start : start + args.batch_size]
                enc = tokenizer(
                    [texts[i] for i in idx],
                    padding=True,
                    truncation=True,
                    max_length=args.max_length,
                    return_tensors="pt",
                )
                hidden = model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                probs = head(((hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)).numpy())
                if out is None:
                    out = np.empty((len(texts), probs.shape[1]), np.float32)
                out[idx] = probs
        assert out is not None, "no texts"
        return out

    return predict


def sentence_transformers(args: argparse.Namespace, backend: str) -> Predict:
    """Transformer + mean Pooling modules (no Normalize: the head was fit on unnormalised vectors)."""
    from sentence_transformers import SentenceTransformer, models  # type: ignore[attr-defined]  # lazily exported

    kwargs = {}
    if backend == "onnx":
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        options.inter_op_num_threads = 1
        kwargs = {"backend": "onnx", "model_args": {"file_name": args.onnx_file, "session_options": options}}
    else:
        import torch

        torch.set_num_threads(args.threads)
    path = args.onnx_dir if backend == "onnx" else args.encoder
    transformer = models.Transformer(path, max_seq_length=args.max_length, **kwargs)
    pooling = models.Pooling(transformer.get_word_embedding_dimension(), "mean")
    model = SentenceTransformer(modules=[transformer, pooling], device="cpu")
    head = head_fn(args.head)
    return lambda texts: head(model.encode(texts, batch_size=args.batch_size, convert_to_numpy=True))


def optimum(args: argparse.Namespace) -> Predict:
    import onnxruntime as ort
    from optimum.onnxruntime import ORTModelForFeatureExtraction
    from transformers import AutoTokenizer

    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    model = ORTModelForFeatureExtraction.from_pretrained(
        args.onnx_dir, file_name=args.onnx_file, session_options=options, provider="CPUExecutionProvider"
    )
    tokenizer = AutoTokenizer.from_pretrained(args.onnx_dir)
    head = head_fn(args.head)

    def predict(texts: list[str]) -> np.ndarray:
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = None
        for start in range(0, len(order), args.batch_size):
            idx = order[start : start + args.batch_size]
            enc = tokenizer(
                [texts[i] for i in idx], padding=True, truncation=True, max_length=args.max_length, return_tensors="np"
            )
            hidden = model(**enc).last_hidden_state
            mask = enc["attention_mask"][..., None].astype(np.float32)
            probs = head((hidden * mask).sum(1) / np.maximum(mask.sum(1), 1e-9))
            if out is None:
                out = np.empty((len(texts), probs.shape[1]), np.float32)
            out[idx] = probs
        assert out is not None, "no texts"
        return out

    return predict


def fastembed(args: argparse.Namespace) -> Predict:
    """fastembed with the same int8 ONNX file, registered as a custom model and loaded from disk."""
    from fastembed import TextEmbedding
    from fastembed.common.model_description import ModelSource, PoolingType

    name = "local/encoder-int8"
    with open(os.path.join(args.onnx_dir, "config.json"), encoding="utf-8") as f:
        dim = int(json.load(f)["hidden_size"])
    TextEmbedding.add_custom_model(
        name,
        pooling=PoolingType.MEAN,
        normalization=False,
        sources=ModelSource(hf=name),
        dim=dim,
        model_file=args.onnx_file,
    )
    model = TextEmbedding(name, threads=args.threads, specific_model_path=args.onnx_dir, local_files_only=True)
    head = head_fn(args.head)
    return lambda texts: head(np.stack(list(model.embed(texts, batch_size=args.batch_size))))


KINDS: dict[str, Callable[[argparse.Namespace], Predict]] = {
    "probe-default": probe_runtime,
    "probe-default-spin": probe_runtime,
    "probe-int8": probe_runtime,
    "probe-fp32": probe_runtime,
    "torch-eager": lambda a: torch_eager(a, sort=False),
    "torch-eager-sorted": lambda a: torch_eager(a, sort=True),
    "st-torch": lambda a: sentence_transformers(a, "torch"),
    "st-onnx-int8": lambda a: sentence_transformers(a, "onnx"),
    "optimum-int8": optimum,
    "fastembed-int8": fastembed,
}


def _cpu_seconds() -> float:
    """User + system CPU time of every thread of this process: steadier than wall time under load."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("kind", choices=sorted(KINDS))
    parser.add_argument("--texts", required=True, help="one text per line")
    parser.add_argument("--spawned", type=float, required=True, help="parent's time.time() at spawn")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-length", type=int, default=256)
    parser.add_argument("--latency-texts", type=int, default=200)
    parser.add_argument("--model", help="probe artifact")
    parser.add_argument("--spin", action="store_true", help="probe: Classifier.load(spinning=True)")
    parser.add_argument("--encoder", help="encoder directory (Hugging Face layout)")
    parser.add_argument("--head", help="head.npz of the trained probe")
    parser.add_argument("--onnx-dir", help="directory of the int8 ONNX export + tokenizer files")
    parser.add_argument("--onnx-file", default="model_quantized.onnx")
    args = parser.parse_args(argv)
    with open(args.texts, encoding="utf-8") as f:
        texts = [line.rstrip("\n") for line in f]

    predict = KINDS[args.kind](args)
    predict(texts[:1])
    cold_start = time.time() - args.spawned
    for text in texts[:20]:  # warm-up: allocations, kernel choice
        predict([text])
    predict(texts[:256])
    start, cpu_start = time.perf_counter(), _cpu_seconds()
    proba = predict(texts)
    seconds, cpu_seconds = time.perf_counter() - start, _cpu_seconds() - cpu_start
    latencies = []
    for text in texts[: args.latency_texts]:
        t0 = time.perf_counter()
        predict([text])
        latencies.append(time.perf_counter() - t0)
    ms = 1e3 * np.array(latencies)
    result = {
        "kind": args.kind,
        "cold_start_s": cold_start,
        "texts_per_s": len(texts) / seconds,
        "texts_per_cpu_s": len(texts) / cpu_seconds,
        "p50_ms": float(np.percentile(ms, 50)),
        "p95_ms": float(np.percentile(ms, 95)),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "argmax": proba.argmax(axis=1).tolist(),
        "python": sys.executable,
        "pid": os.getpid(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
