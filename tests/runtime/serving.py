"""A real `probe-runtime serve` in a subprocess on a free localhost port, and plain HTTP to it (no client library)."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from probe_runtime.serve.metrics import parse_samples

ROOT = Path(__file__).resolve().parents[2]
READY = " on http://"


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class RunningServer:
    proc: subprocess.Popen
    host: str = ""
    port: int = 0
    lines: list[str] = field(default_factory=list)

    def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None, timeout: float = 60
    ) -> Reply:
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        try:
            sent = {"Content-Type": "application/json", **(headers or {})}
            conn.request(method, path, body=data, headers=sent)
            resp = conn.getresponse()
            return Reply(resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read())
        finally:
            conn.close()

    def post(self, path: str, body: Any, **kwargs: Any) -> Reply:
        return self.request("POST", path, body, **kwargs)

    def metrics(self, headers: dict[str, str] | None = None) -> dict[str, float]:
        reply = self.request("GET", "/metrics", headers=headers)
        assert reply.status == 200, reply.body
        return parse_samples(reply.body.decode())

    def wait_for(self, sample: str, value: float, timeout: float = 20, headers: dict[str, str] | None = None) -> None:
        """Poll /metrics until ``sample`` reads ``value`` (a state the test needs before its next step)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.metrics(headers).get(sample) == value:
                return
            time.sleep(0.02)
        raise AssertionError(f"{sample} never reached {value}: {self.metrics(headers).get(sample)}")

    def stop(self, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout)


def _read_lines(server: RunningServer, ready: threading.Event) -> None:
    assert server.proc.stderr is not None
    for line in server.proc.stderr:
        server.lines.append(line.rstrip("\n"))
        if READY in line and not ready.is_set():
            address = line.split(READY, 1)[1].split()[0]
            parts = urlsplit(f"http://{address}")
            server.host, server.port = parts.hostname or "", parts.port or 0
            ready.set()
    ready.set()  # the process ended before it was ready


def start_server(model: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 90) -> RunningServer:
    """``probe-runtime serve MODEL --port 0 ARGS`` started and ready (its start line read), else an AssertionError."""
    cmd = [sys.executable, "-m", "probe_runtime.cli", "serve", str(model), "--port", "0", "--threads", "1", *args]
    proc = subprocess.Popen(
        cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, cwd=ROOT, env={**os.environ, **(env or {})}
    )
    server = RunningServer(proc)
    ready = threading.Event()
    threading.Thread(target=_read_lines, args=(server, ready), daemon=True).start()
    if not ready.wait(timeout) or not server.port:
        proc.kill()
        proc.wait()
        raise AssertionError("the server did not start:\n" + "\n".join(server.lines))
    return server


@dataclass
class Unfinished:
    """A request whose last body bytes are not sent yet: admitted by the server, still being read."""

    sock: socket.socket
    rest: bytes

    def finish(self, timeout: float = 60) -> Reply:
        self.sock.settimeout(timeout)
        self.sock.sendall(self.rest)
        response = http.client.HTTPResponse(self.sock)
        response.begin()
        try:
            return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
        finally:
            self.sock.close()


def unfinished(server: RunningServer, path: str, body: Any, held: int = 2) -> Unfinished:
    """Send ``body`` to ``path`` but its last ``held`` bytes: the server admits the request and waits for them."""
    data = json.dumps(body).encode()
    sock = socket.create_connection((server.host, server.port))
    head = (
        f"POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
    )
    sock.sendall(head.encode() + data[:-held])
    return Unfinished(sock, data[-held:])
