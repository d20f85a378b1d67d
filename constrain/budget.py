"""Wall-clock budgets for compilation steps that run inside third-party code.

Deadlines are checked between steps, but one step can be a single long call
(interegular building a DFA for a hostile regex). :func:`time_limit` arms a
POSIX interval timer that raises :class:`CompileBudgetError` inside that call.
It only works in the main thread of a process with ``SIGALRM`` (elsewhere it is
a no-op and the between-step checks remain); nested limits keep the outer one.

The timer repeats every ``REFIRE`` seconds after it expires, until the block ends: a Python
signal handler runs wherever the main thread is, and an exception raised inside a weakref
callback or a finalizer (``WeakValueDictionary`` cleanups run during allocation) is printed and
dropped. A one-shot alarm lost that way once let a hostile pattern build its DFA unbounded.
While a limit is armed, such a dropped budget error is not reported to ``sys.unraisablehook``
either (the next alarm raises it where it counts); any other unraisable exception goes to the
hook as before. pytest's hook fails the test it lands in, and formatting the report could itself
be interrupted by the next alarm.
"""
from __future__ import annotations

import contextlib
import signal
import sys
import threading

from .errors import CompileBudgetError

_active = False
REFIRE = 0.05  # seconds between raises once the budget is spent


@contextlib.contextmanager
def time_limit(seconds: float, what: str = "compilation"):
    global _active
    usable = (not _active and hasattr(signal, "setitimer")
              and threading.current_thread() is threading.main_thread())
    if not usable:
        yield
        return

    armed = [True]

    def _expired(signum, frame):
        if armed[0]:  # a late alarm (after the block ended) is ignored
            raise CompileBudgetError(f"{what} exceeded its time budget of {seconds:.3g}s")

    old_hook = sys.unraisablehook

    def _hook(unraisable):
        if unraisable.exc_type is not None and issubclass(unraisable.exc_type, CompileBudgetError):
            return  # an alarm dropped in a finalizer or callback: the timer raises it again
        old_hook(unraisable)

    old = signal.signal(signal.SIGALRM, _expired)
    sys.unraisablehook = _hook
    _active = True
    # The timer can fire inside the inner ``finally`` before it disarms; the outer
    # one then still disarms and restores, so a limit can never stay active after its block
    # (which would silently turn every later limit into a no-op).
    try:
        try:
            signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.001), REFIRE)
            yield
        finally:
            armed[0] = False
            signal.setitimer(signal.ITIMER_REAL, 0)
    finally:
        armed[0] = False
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        if sys.unraisablehook is _hook:
            sys.unraisablehook = old_hook
        _active = False
