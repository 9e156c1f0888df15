"""`probe-runtime serve`: a real server in a subprocess on a free localhost port, spoken to over HTTP.

What a client of text-embeddings-inference expects (routes, shapes, status codes), and what probe promises
on top: the same answers as `Classifier` for the same texts, batching that really coalesces, limits that
answer 413/422/429 naming the limit or field, no traceback to a client, and a SIGTERM that drains.
"""

from __future__ import annotations

import json
import signal
import socket
import threading
import time

import numpy as np
import pytest
from probe_runtime import Classifier

from tests.runtime.serving import RunningServer, start_server, unfinished

TEXTS = [
    "the movie was great",
    "this film felt awful and the plot was dull",
    "our dinner honestly felt superb",
    "the hotel is terrible",
    "that book really was brilliant and the acting seemed fine",
    "the acting was boring",
    "the plot seemed lovely",
    "this film was dreadful",
]
LONG = " ".join(["the movie was great and the plot was dull"] * 40)
# One text alone runs exactly as `predict_proba([text])` runs it, so the answers agree to 1e-6. Several texts
# (one request's batch, or requests coalesced) are padded and cut into batches as the server's run needs
# (`probe_runtime.serve.batcher.run_max_tokens`); fp32 sums then differ in the last bits, within what the
# library's own batched-vs-alone test allows (1e-5) for a batch-independent file.
SAME_CALL = 1e-6
COALESCED = 1e-5


@pytest.fixture(scope="module")
def fp32(tiny_artifacts):
    return tiny_artifacts["fp32"]


@pytest.fixture(scope="module")
def clf(fp32):
    return Classifier.load(fp32, threads=1)


@pytest.fixture(scope="module")
def server(fp32):
    running = start_server(fp32)
    yield running
    assert running.stop() == 0


def ranked(clf: Classifier, text: str | list[str]) -> list[tuple[str, float]] | list[list[tuple[str, float]]]:
    """What /predict must answer: per text, every label with its probability, most probable first (the
    library called on the same texts as the request: one text, or the batch)."""
    labels = [str(label) for label in clf.decider.labels]
    rows = clf.predict_proba([text] if isinstance(text, str) else text)
    answers = [sorted(zip(labels, row.tolist()), key=lambda pair: -pair[1]) for row in rows]
    return answers[0] if isinstance(text, str) else answers


def assert_prediction(answer: list[dict], expected, tolerance: float = SAME_CALL) -> None:
    assert [p["label"] for p in answer] == [label for label, _ in expected]
    assert np.allclose([p["score"] for p in answer], [score for _, score in expected], atol=tolerance, rtol=0)


def test_predict_answers_every_label_most_probable_first_as_the_classifier_does(server, clf):
    for body in ({"inputs": TEXTS[0]}, {"inputs": [TEXTS[0]]}):
        reply = server.post("/predict", body)
        assert reply.status == 200, reply.body
        assert_prediction(reply.json(), ranked(clf, TEXTS[0]))
    reply = server.post("/predict", {"inputs": [[text] for text in TEXTS]})
    assert reply.status == 200, reply.body
    answers = reply.json()
    assert len(answers) == len(TEXTS)
    for answer, expected in zip(answers, ranked(clf, TEXTS)):
        assert_prediction(answer, expected, COALESCED)


def test_post_root_is_predict_as_tei_routes_it_for_a_classifier(server, clf):
    reply = server.post("/", {"inputs": TEXTS[1]})
    assert reply.status == 200
    assert_prediction(reply.json(), ranked(clf, TEXTS[1]))


def test_raw_scores_are_log_probabilities_whose_softmax_gives_the_scores_back(server, clf):
    raw = server.post("/predict", {"inputs": TEXTS[2], "raw_scores": True}).json()
    expected = ranked(clf, TEXTS[2])
    assert [p["label"] for p in raw] == [label for label, _ in expected]
    assert np.allclose([np.exp(p["score"]) for p in raw], [s for _, s in expected], atol=1e-6)


def test_embed_answers_the_pooled_vectors_normalised_unless_asked_not_to(server, clf):
    vectors = clf.embed(TEXTS[:3])
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    reply = server.post("/embed", {"inputs": TEXTS[:3]})
    assert reply.status == 200, reply.body
    assert np.allclose(reply.json(), unit, atol=COALESCED)
    raw = server.post("/embed", {"inputs": TEXTS[0], "normalize": False}).json()
    assert np.allclose(raw, vectors[:1], atol=1e-6)  # one text: still a list of vectors, as TEI answers


def test_classify_answers_the_artifacts_own_decision(server, clf):
    expected = clf.classify(TEXTS)
    answers = server.post("/classify", {"inputs": TEXTS}).json()
    for answer, prediction in zip(answers, expected):
        assert answer["label"] == prediction.label and answer["label_id"] == prediction.label_id
        assert abs(answer["score"] - prediction.score) <= COALESCED
        assert answer["truncated"] is False
    single = server.post("/classify", {"inputs": TEXTS[0]}).json()
    assert single["label"] == expected[0].label


def test_health_info_and_metrics(server, clf):
    health = server.request("GET", "/health")
    assert health.status == 200
    info = server.request("GET", "/info").json()
    labels = [str(label) for label in clf.decider.labels]
    assert info["model_type"]["classifier"]["id2label"] == {str(i): label for i, label in enumerate(labels)}
    assert info["max_input_length"] == clf.manifest.max_length
    assert info["max_client_batch_size"] == 32 and info["max_concurrent_requests"] == 512
    assert info["model_dtype"] == "float32" and info["probe"]["precision"] == "none"
    assert info["probe"]["decision"] == clf.decider.describe()
    server.post("/predict", {"inputs": [[t] for t in TEXTS[:3]]})
    text = server.request("GET", "/metrics").body.decode()
    assert "# TYPE probe_request_duration_seconds histogram" in text
    samples = server.metrics()
    assert samples['probe_requests_total{route="/predict",status="200"}'] >= 1
    assert samples['probe_request_duration_seconds_count{route="/predict"}'] >= 1
    assert samples['probe_texts_total{kind="proba"}'] >= 3
    assert samples["probe_batch_texts_count"] >= 1 and samples["probe_queue_texts"] == 0


def test_unknown_routes_and_wrong_methods_answer_404_and_405_naming_the_routes(server):
    missing = server.request("GET", "/nope")
    assert missing.status == 404 and "POST /predict" in missing.json()["error"]
    wrong = server.request("GET", "/predict")
    assert wrong.status == 405 and "POST" in wrong.json()["error"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b"{not json", "not valid JSON"),
        (b"", "body is empty"),
        (b"[1, 2]", "not a JSON object"),
        (b"[" * 100_000, "not valid JSON"),
        ({"text": "hi"}, "inputs is missing"),
        ({"inputs": 3}, "inputs must be a string"),
        ({"inputs": []}, "inputs is an empty list"),
        ({"inputs": ["a", "b"]}, "text pair"),
        ({"inputs": [["a"], "b"]}, "inputs[1]"),
        ({"inputs": [["a"], ["b", "c"]]}, "inputs[1] is a text pair"),
        ({"inputs": [["a"], [7]]}, "inputs[1][0] must be a string"),
        ({"inputs": "   "}, "inputs is only whitespace"),
        ({"inputs": "a", "raw_scores": "yes"}, "raw_scores must be true or false"),
        ({"inputs": "a", "truncate": 1}, "truncate must be true, false or null"),
        ({"inputs": "a", "truncation_direction": "left"}, "truncation_direction"),
        ({"inputs": "bad \ud800 surrogate"}, "lone surrogate"),
    ],
)
def test_a_malformed_request_is_422_naming_the_field_never_a_traceback(server, body, field):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    reply = server.post("/predict", data)
    assert reply.status == 422, reply.body
    assert field in reply.json()["error"] and reply.json()["error_type"] == "validation"
    assert b"Traceback" not in reply.body


def test_embed_and_classify_check_their_fields_too(server):
    assert "inputs[1] must be a string" in server.post("/embed", {"inputs": ["a", None]}).json()["error"]
    assert "normalize must be true or false" in server.post("/embed", {"inputs": "a", "normalize": 0}).json()["error"]
    assert server.post("/classify", {"inputs": {"a": 1}}).status == 422


def test_limits_answer_413_naming_the_limit(fp32, clf):
    server = start_server(fp32, "--payload-limit", "2000", "--max-client-batch-size", "4")
    try:
        big = server.post("/predict", {"inputs": "x " * 2000})
        assert big.status == 413 and "--payload-limit" in big.json()["error"]
        many = server.post("/predict", {"inputs": [[t] for t in TEXTS[:5]]})
        assert many.status == 413 and "--max-client-batch-size" in many.json()["error"]
        assert "5 texts" in many.json()["error"]
        long = server.post("/predict", {"inputs": [["short one"], [LONG[:1500]]]})
        assert long.status == 413 and "inputs[1] is longer than" in long.json()["error"]
        assert '"truncate": true' in long.json()["error"]
        cut = server.post("/predict", {"inputs": LONG[:1500], "truncate": True})
        assert cut.status == 200  # asked for: the first max-length tokens, as the library reads them
        assert_prediction(cut.json(), ranked(clf, LONG[:1500]))
        assert server.post("/classify", {"inputs": LONG[:1500], "truncate": True}).json()["truncated"] is True
    finally:
        assert server.stop() == 0


def _in_threads(calls) -> list:
    """Run the calls at once, one thread each; their results in order."""
    return _in_threads_later(calls)()


def test_requests_that_arrive_together_are_coalesced_into_one_run_with_the_same_answers(fp32, clf):
    server = start_server(fp32, "--max-batch-wait-ms", "500")
    try:
        pending = [unfinished(server, "/predict", {"inputs": text}) for text in TEXTS]
        server.wait_for("probe_requests_reading", len(TEXTS))  # all admitted, none complete yet
        replies = _in_threads([request.finish for request in pending])
        for reply, text in zip(replies, TEXTS):
            assert reply.status == 200, reply.body
            assert_prediction(reply.json(), ranked(clf, text), COALESCED)
        samples = server.metrics()
        assert samples["probe_batch_texts_sum"] == len(TEXTS)
        assert samples["probe_batch_texts_count"] < len(TEXTS)  # some run classified several requests' texts
        assert samples['probe_batch_texts_bucket{le="1"}'] < samples["probe_batch_texts_count"]
    finally:
        assert server.stop() == 0


def test_a_lone_request_does_not_wait_for_company(fp32):
    server = start_server(fp32, "--max-batch-wait-ms", "1000")
    try:
        started = time.monotonic()
        assert server.post("/predict", {"inputs": TEXTS[0]}).status == 200
        assert time.monotonic() - started < 0.9  # nothing else was on its way: no 1 s wait
    finally:
        assert server.stop() == 0


def test_beyond_max_concurrent_requests_the_answer_is_429_with_retry_after(fp32):
    server = start_server(fp32, "--max-concurrent-requests", "1")
    try:
        holding = unfinished(server, "/predict", {"inputs": TEXTS[0]})
        server.wait_for("probe_requests_in_flight", 1)
        reply = server.post("/predict", {"inputs": TEXTS[1]})
        assert reply.status == 429 and reply.headers["retry-after"] == "1"
        assert reply.json()["error_type"] == "overloaded" and "1 concurrent" in reply.json()["error"]
        assert server.request("GET", "/health").status == 200  # information routes are not admitted, never 429
        assert holding.finish().status == 200
        assert server.post("/predict", {"inputs": TEXTS[1]}).status == 200  # the slot is free again
    finally:
        assert server.stop() == 0


def test_a_client_that_disconnects_frees_its_slot_whether_sending_or_queued(fp32):
    server = start_server(fp32, "--max-concurrent-requests", "2", "--max-batch-wait-ms", "1000")
    try:
        sending = unfinished(server, "/predict", {"inputs": TEXTS[0]})
        server.wait_for("probe_requests_in_flight", 1)
        sending.sock.close()  # gone while its body was being read
        server.wait_for("probe_requests_in_flight", 0)
        server.wait_for('probe_requests_total{route="/predict",status="499"}', 1)
        # Queued: a complete request waits for one still arriving (up to 1 s); its client leaves meanwhile.
        arriving = unfinished(server, "/predict", {"inputs": TEXTS[1]})
        queued = unfinished(server, "/predict", {"inputs": TEXTS[2]})
        queued.sock.sendall(queued.rest)
        server.wait_for("probe_queue_requests", 1)
        queued.sock.close()
        server.wait_for("probe_queue_requests", 0)  # taken out of the queue (the run waits up to 1 s for company)
        server.wait_for("probe_requests_in_flight", 1)  # its slot is free
        assert arriving.finish().status == 200
        samples = server.metrics()
        assert samples['probe_requests_total{route="/predict",status="499"}'] == 2  # both, neither as a failure
        assert samples['probe_texts_total{kind="proba"}'] == 1  # the request that left was never run
        assert not any("Traceback" in line or "failed" in line for line in server.lines)
    finally:
        assert server.stop() == 0


def test_sigterm_drains_requests_in_flight_then_exits_0(fp32, clf):
    server = start_server(fp32, "--max-batch-wait-ms", "1000")
    arriving = unfinished(server, "/predict", {"inputs": TEXTS[3]})
    server.wait_for("probe_requests_reading", 1)
    queued = _in_threads_later([lambda t=t: server.post("/predict", {"inputs": t}) for t in TEXTS[:3]])
    server.wait_for("probe_queue_requests", 3)
    server.proc.send_signal(signal.SIGTERM)  # three queued, one still sending its body
    time.sleep(0.3)
    last = arriving.finish()
    assert server.proc.wait(60) == 0
    assert last.status == 200
    assert_prediction(last.json(), ranked(clf, TEXTS[3]), COALESCED)
    for text, reply in zip(TEXTS[:3], queued()):
        assert reply.status == 200
        assert_prediction(reply.json(), ranked(clf, text), COALESCED)
    assert server.lines[-1].endswith("probe-runtime serve: stopped")
    with pytest.raises(OSError):
        socket.create_connection((server.host, server.port), timeout=2)


def _in_threads_later(calls):
    """Start the calls now, one thread each; the returned function joins them and gives their results."""
    results: list = [None] * len(calls)
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, calls[i]())) for i in range(len(calls))]
    for t in threads:
        t.start()

    def join() -> list:
        for t in threads:
            t.join(120)
        return results

    return join


def test_an_api_key_guards_every_route_but_health(fp32, tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text("s3cret-key\n")
    server = start_server(fp32, "--api-key-file", str(key_file))
    try:
        assert server.request("GET", "/health").status == 200
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret-key"}):
            reply = server.post("/predict", {"inputs": "hi"}, headers=headers)
            assert reply.status == 401 and reply.json()["error_type"] == "unauthorized"
            assert server.request("GET", "/info", headers=headers).status == 401
        good = {"Authorization": "Bearer s3cret-key"}
        assert server.post("/predict", {"inputs": "hi"}, headers=good).status == 200
        assert server.request("GET", "/info", headers=good).json()["probe"]["api_key_required"] is True
    finally:
        assert server.stop() == 0
    from_env = start_server(fp32, env={"PROBE_API_KEY": "env-key"})
    try:
        assert from_env.post("/predict", {"inputs": "hi"}).status == 401
        assert from_env.post("/predict", {"inputs": "hi"}, headers={"Authorization": "Bearer env-key"}).status == 200
    finally:
        assert from_env.stop() == 0


def test_one_access_log_line_per_request_text_or_json(fp32, server):
    server.post("/predict", {"inputs": [["a b"], ["c d"]]})
    server.post("/predict", {"inputs": 5})
    time.sleep(0.2)
    assert any("POST /predict 200 texts=2 ms=" in line for line in server.lines)
    assert any("POST /predict 422 texts=0 ms=" in line for line in server.lines)
    quiet = start_server(fp32, "--access-log", "json")
    try:
        quiet.post("/embed", {"inputs": ["a", "b", "c"]})
        time.sleep(0.2)
        records = [json.loads(line) for line in quiet.lines if line.startswith("{")]
        assert [(r["method"], r["route"], r["status"], r["texts"]) for r in records] == [("POST", "/embed", 200, 3)]
        assert records[0]["ms"] > 0
    finally:
        assert quiet.stop() == 0


def test_the_server_listens_on_localhost_unless_told(server: RunningServer):
    assert server.host == "127.0.0.1"


def test_a_text_cut_before_tokenizing_counts_as_too_long_though_its_tokens_are_few(server, clf):
    """One 5,000-character word is a single [UNK] token, but the runtime reads only its first part: still 413."""
    word = "a" * 5000
    refused = server.post("/predict", {"inputs": word})
    assert refused.status == 413 and "inputs is longer than" in refused.json()["error"]
    answer = server.post("/classify", {"inputs": word, "truncate": True}).json()
    assert answer["truncated"] is True and answer["label"] == clf.classify(word).label
