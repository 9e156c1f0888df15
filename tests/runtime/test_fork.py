"""A forked child can use a classifier its parent loaded, whatever the parent did with it before the fork.

A child has only the thread that forked. The parent's onnxruntime thread pools and our worker threads
are gone there, and destroying the parent's multi-threaded session in the child waits for them forever.
Each test forks for real (the ``fork`` start method) and bounds the child with a timeout, so a hang
fails the test instead of blocking the suite.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest
from probe_runtime import Classifier

TIMEOUT = 120
SHORT = "a fine film"
LONG = "the movie was great and the plot was fine " * 12  # 64+ tokens: the multi-threaded session
MANY = [f"the movie was great {i} " * (i % 7 + 1) for i in range(120)]  # several batches: the worker pool


def _child(clf, queue):
    queue.put([clf.predict_proba(SHORT).tolist(), clf.predict_proba(LONG).tolist(), clf.predict_proba(MANY).tolist()])


def _in_forked_child(clf):
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_child, args=(clf, queue))
    child.start()
    try:
        return queue.get(timeout=TIMEOUT)
    finally:
        child.join(timeout=10)
        if child.is_alive():
            child.kill()
        assert child.exitcode == 0


@pytest.fixture(scope="module")
def expected(tiny_artifacts):
    clf = Classifier.load(tiny_artifacts["fp32"], threads=1)
    return [clf.predict_proba(SHORT), clf.predict_proba(LONG), clf.predict_proba(MANY)]


@pytest.mark.parametrize("before", ["nothing", "short text", "long text", "many texts", "everything"])
def test_a_forked_child_works_whatever_the_parent_did_first(tiny_artifacts, expected, before):
    clf = Classifier.load(tiny_artifacts["fp32"], threads=2)
    if before in ("short text", "everything"):
        clf.predict_proba(SHORT)
    if before in ("long text", "everything"):
        clf.predict_proba(LONG)
        assert clf._sessions.wide is not None
    if before in ("many texts", "everything"):
        clf.predict_proba(MANY)
        assert clf._sessions.pool is not None
    for got, want in zip(_in_forked_child(clf), expected):
        np.testing.assert_allclose(np.array(got, dtype=np.float32), want, atol=1e-5)
    np.testing.assert_allclose(clf.predict_proba(LONG), expected[1], atol=1e-5)  # the parent is unaffected


def test_several_children_in_a_row_all_work(tiny_artifacts, expected):
    clf = Classifier.load(tiny_artifacts["fp32"], threads=2)
    clf.predict_proba(LONG)
    for _ in range(4):
        np.testing.assert_allclose(np.array(_in_forked_child(clf)[1], dtype=np.float32), expected[1], atol=1e-5)


def test_a_child_forked_while_a_parent_thread_is_classifying_works(tiny_artifacts, expected):
    clf = Classifier.load(tiny_artifacts["fp32"], threads=2)
    clf.predict_proba(LONG)
    stop = threading.Event()

    def busy():
        while not stop.is_set():
            clf.predict_proba(MANY)
            clf.predict_proba(LONG)

    workers = [threading.Thread(target=busy) for _ in range(2)]
    for worker in workers:
        worker.start()
    try:
        for _ in range(3):
            got = _in_forked_child(clf)
            np.testing.assert_allclose(np.array(got[2], dtype=np.float32), expected[2], atol=1e-5)
    finally:
        stop.set()
        for worker in workers:
            worker.join()


def _forked_script(model, exit_call: str) -> str:
    return textwrap.dedent(
        f"""
        import os, sys
        from probe_runtime import Classifier
        clf = Classifier.load({str(model)!r}, threads=2)
        clf.predict_proba({LONG!r})
        clf.predict_proba({MANY!r})
        pid = os.fork()
        if pid == 0:
            clf.predict_proba({LONG!r})
            clf.predict_proba({MANY!r})
            del clf
            sys.stdout.flush()
            {exit_call}
        _, status = os.waitpid(pid, 0)
        print("child", os.waitstatus_to_exitcode(status))
        """
    )


def _run(script: str, timeout: float) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=timeout, env=env)


def test_a_plain_os_fork_child_classifies_and_ends(tiny_artifacts):
    done = _run(_forked_script(tiny_artifacts["fp32"], "os._exit(0)"), TIMEOUT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "child 0" in done.stdout


@pytest.mark.parametrize(
    ("used", "ending", "code"),
    [
        (False, "sys.exit(0)", 0),  # `import onnxruntime; os.fork(); sys.exit(0)` hung in 1.32's static destructors
        (True, "sys.exit(0)", 0),  # a gunicorn --preload worker that served requests, then was told to stop
        (True, "sys.exit(3)", 3),  # the status the child chose is kept
        (True, "raise SystemExit('stopping')", 1),
        (True, "raise RuntimeError('a bug in the worker')", 1),  # an uncaught exception: exit 1 as usual
    ],
)
def test_a_forked_child_that_ends_through_the_interpreter_exits_with_its_own_status(tiny_artifacts, used, ending, code):
    """Four children in a row, each bounded by the timeout: a hang or SIGABRT fails instead of passing by luck."""
    script = textwrap.dedent(
        f"""
        import os, sys
        from probe_runtime import Classifier
        clf = Classifier.load({str(tiny_artifacts["fp32"])!r}, threads=2)
        if {used}:
            clf.predict_proba({LONG!r})
            clf.predict_proba({MANY!r})
        for _ in range(4):
            pid = os.fork()
            if pid == 0:
                if {used}:
                    print(clf.predict(["a fine film"])[0] in clf.labels, flush=True)
                {ending}
            _, status = os.waitpid(pid, 0)
            print("child", os.waitstatus_to_exitcode(status), flush=True)
        """
    )
    done = _run(script, TIMEOUT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count(f"child {code}\n") == 4, done.stdout
    if used:
        assert done.stdout.count("True\n") == 4, done.stdout
