"""A forked child ends without running the C++ static destructors it inherited from its parent.

A child of ``fork`` has only the thread that forked. onnxruntime 1.32 keeps global objects whose
condition variables a parent thread waits on; when the child ends through the interpreter's normal
shutdown (``sys.exit``, gunicorn's workers, an uncaught exception), the C library's ``exit`` runs those
objects' destructors, and ``pthread_cond_destroy`` waits for a waiter that does not exist in the child:
the child hangs forever or aborts (seen in gdb: ``__run_exit_handlers`` -> onnxruntime ->
``pthread_cond_destroy`` -> futex wait; ``import onnxruntime; os.fork(); sys.exit(0)`` is enough).
Children that end with ``os._exit`` (multiprocessing's) never run them and were always fine.

The remedy gives every child that same ending without changing how it ends: in the child, right after
the fork, ``_exit`` itself is registered with glibc's ``on_exit``. Exit handlers run last-registered
first and the inherited destructors were registered when the libraries loaded, before the fork, so
``exit(status)`` reaches ``_exit(status)`` first: Python's own shutdown (atexit handlers, flushing
``sys.stdout``) has already run, the exit status is the one the child chose (``on_exit`` passes it as the
first argument, which is ``_exit``'s only one), and only the parent's C++ destructors are skipped, as
``os._exit`` skips them. Without glibc's ``on_exit`` (musl, macOS) nothing changes.

The same hook lets what a classifier runs with start afresh in the child (`forget_in_forked_children`): a forked
child has only the thread that forked, so onnxruntime's thread pools and our worker threads are gone, and a lock
some other parent thread held stays locked forever. Destroying the parent's multi-threaded session in the child
joins threads that do not exist (a hang), and running the parent's session may wait on an allocator lock a
parent thread held. So, in the child, every registered object drops all of its parent's onnxruntime objects,
thread pool and tokenizers *without destroying them* (`keep_forever`: one leaked reference each, never freed,
not even at exit) and builds fresh ones on first use (`probe_runtime.execution`).
"""

from __future__ import annotations

import ctypes
import os
import weakref
from typing import Protocol

__all__ = ["ParentState", "end_child_without_inherited_destructors", "forget_in_forked_children", "keep_forever"]


class ParentState(Protocol):
    def leave_parent_state(self) -> None:
        """In a forked child: let go of the parent's objects (`keep_forever`); fresh ones come on first use."""


_LIVE: weakref.WeakSet[ParentState] = weakref.WeakSet()


def forget_in_forked_children(state: ParentState) -> None:
    """Call ``state.leave_parent_state()`` in every child forked while ``state`` lives."""
    _LIVE.add(state)


def keep_forever(objects: object) -> None:
    """One reference that is never released, so no destructor runs in this process (not even at exit)."""
    ctypes.pythonapi.Py_IncRef(ctypes.py_object(objects))


def _after_fork_in_child() -> None:
    end_child_without_inherited_destructors()  # else sys.exit hangs or aborts (module doc)
    for state in list(_LIVE):
        state.leave_parent_state()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def end_child_without_inherited_destructors() -> bool:
    """In a forked child: make ``exit`` end the process before the destructors inherited from the parent.

    Returns whether the handler was registered (False where the C library has no ``on_exit``).
    """
    try:
        libc = ctypes.CDLL(None)
        register = libc.on_exit
        exit_now = ctypes.cast(libc._exit, ctypes.c_void_p).value
    except (AttributeError, OSError):
        return False
    register.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    register.restype = ctypes.c_int
    return register(exit_now, None) == 0
