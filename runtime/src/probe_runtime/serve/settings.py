"""The server's limits and options, checked once, in one record the app and `/info` read."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import UsageError

__all__ = ["ACCESS_LOG_MODES", "DEFAULTS", "Settings"]

ACCESS_LOG_MODES = ("off", "text", "json")


@dataclass(frozen=True)
class Settings:
    """What a server allows and how it batches (the CLI's options; TEI's names where TEI has the same knob).

    ``max_batch_tokens``: the token budget of one model run (requests coalesced up to it).
    ``max_batch_wait_ms``: how long an idle server waits after a request for others to share its run.
    ``max_concurrent_requests``: requests admitted at once (queued or running); beyond, 429.
    ``max_client_batch_size``: texts in one request; beyond, 413. ``payload_limit``: body bytes; beyond, 413.
    ``auto_truncate``: truncate over-long texts when a request does not say (TEI's default: refuse them, 413).
    ``api_key``: the bearer token every route but ``/health`` requires (None: no key).
    ``access_log``: ``off``, ``text`` or ``json``. ``model_id``: the name `/info` gives the model.
    ``concurrent_runs``: model runs in flight at once (`probe_runtime.serve.batcher.Batcher`'s ``runs``).
    """

    model_id: str
    max_batch_tokens: int = 8192
    max_batch_wait_ms: float = 2.0
    max_concurrent_requests: int = 512
    max_client_batch_size: int = 32
    payload_limit: int = 2_000_000
    auto_truncate: bool = False
    api_key: bytes | None = field(default=None, repr=False)
    access_log: str = "text"
    concurrent_runs: int = 2

    def __post_init__(self) -> None:
        for name in (
            "max_batch_tokens",
            "max_concurrent_requests",
            "max_client_batch_size",
            "payload_limit",
            "concurrent_runs",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise UsageError(f"{name} must be a whole number of 1 or more, not {value!r}")
        if not 0 <= self.max_batch_wait_ms <= 1000:
            raise UsageError(f"max_batch_wait_ms must be from 0 to 1000 milliseconds, not {self.max_batch_wait_ms!r}")
        if self.access_log not in ACCESS_LOG_MODES:
            raise UsageError(f"access_log must be one of {', '.join(ACCESS_LOG_MODES)}, not {self.access_log!r}")
        if self.api_key is not None and not self.api_key.strip():
            raise UsageError("the API key is empty; put the key in the file (or environment variable), or leave it out")


DEFAULTS = Settings(model_id="")
