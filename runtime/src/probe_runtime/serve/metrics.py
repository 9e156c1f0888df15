"""The server's Prometheus metrics, written in the text exposition format by hand.

Why by hand: the format is a few lines of text (``# TYPE``, ``name{label="v"} value``), the server needs
four kinds of figures and no push gateway, multiprocess mode or registry, and `prometheus_client` would
be one more dependency for every install of the ``serve`` extra. Counters and histograms are updated from
the event loop and from the inference thread, so every update and the rendering hold one lock.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["BATCH_TEXT_BUCKETS", "LATENCY_BUCKETS", "Histogram", "Metrics", "parse_samples"]

# Seconds: from a short text alone on a fast core (~1 ms) to a full batch of long texts on a slow one.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Texts per coalesced batch: powers of two up to what a token budget of a few thousand short texts allows.
BATCH_TEXT_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
PREFIX = "probe_"


@dataclass
class Histogram:
    """Cumulative-bucket histogram, as Prometheus wants it: counts per upper bound, their sum and count."""

    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0
    n: int = 0

    def __post_init__(self) -> None:
        self.counts = [0] * len(self.bounds)

    def observe(self, value: float) -> None:
        for i, bound in enumerate(self.bounds):
            if value <= bound:
                self.counts[i] += 1
        self.total += value
        self.n += 1

    def lines(self, name: str, labels: str = "") -> list[str]:
        sep = "," if labels else ""
        out = [f'{name}_bucket{{{labels}{sep}le="{_number(b)}"}} {c}' for b, c in zip(self.bounds, self.counts)]
        out.append(f'{name}_bucket{{{labels}{sep}le="+Inf"}} {self.n}')
        braces = f"{{{labels}}}" if labels else ""
        out += [f"{name}_sum{braces} {_number(self.total)}", f"{name}_count{braces} {self.n}"]
        return out


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


def _label_value(value: str) -> str:
    """A label value escaped as the exposition format requires (backslash, quote, newline)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Metrics:
    """Every figure `/metrics` shows. ``gauges``: name -> (help, a function read at scrape time)."""

    def __init__(self, gauges: dict[str, tuple[str, Callable[[], float]]] | None = None) -> None:
        self._lock = threading.Lock()
        self._requests: dict[tuple[str, str], int] = {}
        self._latency: dict[str, Histogram] = {}
        self._batch_texts = Histogram(BATCH_TEXT_BUCKETS)
        self._batch_tokens = Histogram(tuple(float(2**i) for i in range(4, 17)))
        self._texts: dict[str, int] = {}
        self._gauges = dict(gauges or {})

    def add_gauge(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        """A figure read when scraped (queue depth, requests in flight), not kept here."""
        self._gauges[name] = (help_text, read)

    def request(self, route: str, status: int, seconds: float) -> None:
        """One answered request: counted by route and status; its latency by route."""
        with self._lock:
            key = (route, str(status))
            self._requests[key] = self._requests.get(key, 0) + 1
            self._latency.setdefault(route, Histogram(LATENCY_BUCKETS)).observe(seconds)

    def batch(self, kind: str, texts: int, tokens: int) -> None:
        """One coalesced batch run by the inference thread (``kind``: what it computed)."""
        with self._lock:
            self._batch_texts.observe(texts)
            self._batch_tokens.observe(tokens)
            self._texts[kind] = self._texts.get(kind, 0) + texts

    def render(self) -> str:
        """The text exposition format (version 0.0.4)."""
        with self._lock:
            out = _header("requests_total", "counter", "HTTP requests answered, by route and status code")
            for (route, status), n in sorted(self._requests.items()):
                out.append(f'{PREFIX}requests_total{{route="{_label_value(route)}",status="{status}"}} {n}')
            out += _header("request_duration_seconds", "histogram", "Time from request to response, by route")
            for route, hist in sorted(self._latency.items()):
                out += hist.lines(f"{PREFIX}request_duration_seconds", f'route="{_label_value(route)}"')
            out += _header("batch_texts", "histogram", "Texts per batch the inference thread ran (coalesced)")
            out += self._batch_texts.lines(f"{PREFIX}batch_texts")
            out += _header("batch_tokens", "histogram", "Tokens per batch the inference thread ran")
            out += self._batch_tokens.lines(f"{PREFIX}batch_tokens")
            out += _header("texts_total", "counter", "Texts run through the model, by what was computed")
            for kind, n in sorted(self._texts.items()):
                out.append(f'{PREFIX}texts_total{{kind="{_label_value(kind)}"}} {n}')
        for name, (help_text, read) in sorted(self._gauges.items()):
            out += _header(name, "gauge", help_text)
            out.append(f"{PREFIX}{name} {_number(read())}")
        return "\n".join(out) + "\n"


def _header(name: str, kind: str, help_text: str) -> list[str]:
    return [f"# HELP {PREFIX}{name} {help_text}", f"# TYPE {PREFIX}{name} {kind}"]


def parse_samples(text: str) -> dict[str, float]:
    """``{'name{labels}': value}`` of an exposition text (comments skipped): what tests and benchmarks read."""
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            samples[key] = float(value)
    return samples
