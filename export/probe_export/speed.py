"""The card's speed line: a short measurement of the shipped graph on the exporting machine, named.

A few seconds, not a benchmark (``probe-runtime bench`` is that): one-text latency over the runtime's
built-in sample texts and the throughput of one batch of them, with the runtime's own measuring
functions, so the card and ``bench`` mean the same thing by "latency" and "texts/s".
"""

from __future__ import annotations

import os
from pathlib import Path

from probe_runtime import Classifier
from probe_runtime.artifact import Manifest
from probe_runtime.bench import latency_ms, sample_texts, throughput
from probe_runtime.classifier import DEFAULT_MAX_TOKENS
from probe_runtime.records import Speed

from .host import cpu_flags, cpu_name

__all__ = ["measure_speed"]

BATCH_SIZE = 32
_LATENCY_TEXTS = 40


def measure_speed(graph: Path, manifest: Manifest, tokenizer_json: str) -> Speed:
    """Latency (one text per call, p50/p95) and texts/s (batches of 32) of ``graph`` on every core here."""
    import onnxruntime

    clf = Classifier.from_graph(graph, manifest, tokenizer_json)
    texts = sample_texts()
    clf.predict_proba(texts[:BATCH_SIZE])  # the first call allocates buffers and picks kernels
    latency = latency_ms(clf, texts[:_LATENCY_TEXTS], repeat=1)
    rate = throughput(clf, texts, BATCH_SIZE, repeat=1, max_tokens=DEFAULT_MAX_TOKENS)
    return Speed(
        cpu=cpu_name(),
        amx="amx_int8" in cpu_flags(),
        threads=os.cpu_count() or 1,
        latency_ms_p50=latency["p50"],
        latency_ms_p95=latency["p95"],
        texts_per_s=rate.texts_per_s,
        batch_size=BATCH_SIZE,
        texts=len(texts),
        onnxruntime=onnxruntime.__version__,
    )
