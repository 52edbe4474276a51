"""Ctrl-C is never lost: a KeyboardInterrupt that lands inside a finalizer (where Python prints
"Exception ignored" and goes on) is raised again where the command sees it."""
import argparse
import gc
import importlib
import signal
import sys
import time
from importlib.metadata import entry_points

import pytest

from csc.cli.interrupts import INTERRUPTED, interrupts_never_lost, stops_on_interrupt


@pytest.fixture(autouse=True)
def ctrl_c_reaches_python():
    """These tests stand for a process that Ctrl-C reaches. One started in the background of a
    non-interactive shell inherits SIGINT ignored, and `_thread.interrupt_main` (which the guard
    uses to raise an owed interrupt again) then does nothing, as a real Ctrl-C would not arrive
    either; so each test runs with Python's own SIGINT handler, and the previous one after."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


class InterruptedWhileFinalized:
    """An object whose finalizer is hit by Ctrl-C, as the video reader's close can be."""

    def __del__(self):
        raise KeyboardInterrupt


def swallow_an_interrupt() -> None:
    InterruptedWhileFinalized()  # dropped at once: the interrupt is swallowed in __del__
    gc.collect()


def test_plain_python_loses_an_interrupt_swallowed_by_a_finalizer(monkeypatch):
    """The failure being guarded against: outside the guard the interrupt only reaches the
    unraisable hook (which prints "Exception ignored"), and the work goes on."""
    seen = []
    monkeypatch.setattr(sys, "unraisablehook", seen.append)
    swallow_an_interrupt()
    time.sleep(0.2)
    assert [type(u.exc_value) for u in seen] == [KeyboardInterrupt]


def test_a_swallowed_interrupt_is_raised_again_and_not_printed(capsys):
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        with interrupts_never_lost():
            swallow_an_interrupt()
            for _ in range(200):  # up to 10 s of work that the interrupt must stop
                time.sleep(0.05)
    assert time.monotonic() - t0 < 5
    assert capsys.readouterr().err == ""


def test_an_interrupt_still_owed_when_the_block_ends_is_raised_there():
    with pytest.raises(KeyboardInterrupt):
        with interrupts_never_lost():
            swallow_an_interrupt()  # the block ends before the interrupt is raised again


def test_the_guard_leaves_other_unraisable_errors_and_the_hook_as_they_were(monkeypatch):
    seen = []
    monkeypatch.setattr(sys, "unraisablehook", seen.append)

    class Broken:
        def __del__(self):
            raise RuntimeError("broken finalizer")

    with interrupts_never_lost():
        Broken()
        gc.collect()
    assert [str(u.exc_value) for u in seen] == ["broken finalizer"]
    assert sys.unraisablehook == seen.append
    time.sleep(0.2)  # nothing is raised after the block


@pytest.mark.parametrize("work_after", [0, 200])
def test_a_command_ends_with_one_line_and_status_130(capsys, work_after):
    @stops_on_interrupt("csc-test", "run it again")
    def main(argv=None) -> int:
        swallow_an_interrupt()
        for _ in range(work_after):
            time.sleep(0.05)
        return 0

    assert main([]) == INTERRUPTED
    assert capsys.readouterr().err.splitlines() == ["csc-test: interrupted; run it again"]


def test_a_command_that_is_not_interrupted_returns_its_status(capsys):
    @stops_on_interrupt("csc-test")
    def main(argv=None) -> int:
        return 2

    assert main([]) == 2
    assert capsys.readouterr().err == ""


COMMANDS = sorted((ep.name, ep.value) for ep in entry_points(group="console_scripts")
                  if ep.value.startswith("csc."))


def test_every_command_is_installed():
    assert len(COMMANDS) >= 10, COMMANDS


@pytest.mark.parametrize("name, target", COMMANDS)
def test_every_command_ends_an_interrupt_with_one_line(name, target, monkeypatch, capsys):
    """Ctrl-C while a command reads its options (the first thing each does)."""

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(argparse.ArgumentParser, "parse_known_args", interrupted)
    module, function = target.split(":")
    assert getattr(importlib.import_module(module), function)([]) == INTERRUPTED
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and ": interrupted" in err[0], err
