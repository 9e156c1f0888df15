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
"""

from __future__ import annotations

import ctypes

__all__ = ["end_child_without_inherited_destructors"]


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
