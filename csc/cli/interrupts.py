"""Ctrl-C ends every command with one line and exit status 130, and is never lost.

Python turns SIGINT into a `KeyboardInterrupt` raised wherever the main thread happens to be.
When that is inside a finalizer (a generator closed by the garbage collector, a `__del__`; the
video reader's close runs `gc.collect()` after every chunk), Python prints "Exception ignored
in ..." with a traceback and goes on: the interrupt is lost and the command runs to its end.
`interrupts_never_lost` catches such a swallowed interrupt and raises it again, a moment later,
where the command can see it.
"""
from __future__ import annotations

import _thread
import contextlib
import functools
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Sequence

INTERRUPTED = 130  # exit status of a command stopped by Ctrl-C, as a shell reports SIGINT
REDELIVERY_DELAY_S = 0.05  # long enough to be out of the finalizer that swallowed it


class _Redelivery:
    """Raises a swallowed KeyboardInterrupt again in the main thread, once per swallow."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._closed = False

    def swallowed(self) -> None:
        with self._lock:
            if self._closed or self._timer is not None:
                return
            self._timer = threading.Timer(REDELIVERY_DELAY_S, self._fire)
            self._timer.daemon = True
            self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._timer = None
            _thread.interrupt_main()  # as if SIGINT arrived again: the handler raises

    def close(self) -> bool:
        """Stop re-raising; True when an interrupt was swallowed and not yet raised again."""
        with self._lock:
            self._closed = True
            owed, self._timer = self._timer is not None, None
        return owed


@contextlib.contextmanager
def interrupts_never_lost() -> Iterator[None]:
    """Within the block, a KeyboardInterrupt swallowed by a finalizer is not printed and is
    raised again in the main thread; one still owed when the block ends is raised there. Only
    in the main thread (elsewhere the block runs unchanged)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    redelivery, previous_hook = _Redelivery(), sys.unraisablehook

    def hook(unraisable) -> None:
        if isinstance(unraisable.exc_value, KeyboardInterrupt):
            redelivery.swallowed()
        else:
            previous_hook(unraisable)

    sys.unraisablehook = hook
    try:
        yield
    except BaseException:
        sys.unraisablehook = previous_hook
        redelivery.close()
        raise
    sys.unraisablehook = previous_hook
    if redelivery.close():
        raise KeyboardInterrupt


def stops_on_interrupt(prog: str, advice: str = "") -> Callable:
    """Decorator of a command's `main(argv) -> int`: Ctrl-C ends it with the one line
    `prog: interrupted[; advice]` on stderr and returns `INTERRUPTED`, wherever the interrupt
    lands (see `interrupts_never_lost`). A main that reports interrupts itself keeps its line."""

    def decorate(main: Callable[[Sequence[str] | None], int]) -> Callable:
        @functools.wraps(main)
        def wrapped(argv: Sequence[str] | None = None) -> int:
            try:
                with interrupts_never_lost():
                    return main(argv)
            except KeyboardInterrupt:
                print(f"{prog}: interrupted{'; ' + advice if advice else ''}", file=sys.stderr)
                return INTERRUPTED

        return wrapped

    return decorate
