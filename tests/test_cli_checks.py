"""Options the tools check before any work: one line on stderr, exit status 2, nothing computed."""
import os
from pathlib import Path

import pytest

from csc.cli import analyze, learn, second_layer
from csc.resources import heldout_dir, pretrained_dir
from csc.run_folder import run_lock

MODEL = str(pretrained_dir() / "model.npz")


def _one_line_error(capsys, *words: str) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    for word in words:
        assert word in err, err
    return err


@pytest.fixture
def no_learning(monkeypatch):
    """Fails the test if the second-layer tool gets as far as encoding sequences."""
    def learn(args):
        raise AssertionError("the options were checked only after encoding")

    monkeypatch.setattr(second_layer, "learn", learn)


@pytest.mark.parametrize("option, value, words", [
    ("--n-motion", "0", ("--n-motion must be >= 1",)),
    ("--n-form", "-2", ("--n-form must be >= 1",)),
    ("--n-sequences", "0", ("--n-sequences must be >= 1",)),
    ("--n-updates", "0", ("--n-updates must be >= 1",)),
    ("--log-variance", "-1", ("--log-variance must be > 0",)),
])
def test_second_layer_checks_its_options_before_encoding(tmp_path, capsys, no_learning, option,
                                                        value, words):
    assert second_layer.main([MODEL, "--out", str(tmp_path / "out"), option, value]) == 2
    _one_line_error(capsys, *words)


def test_analyze_refuses_bad_counts_and_json_paths_before_measuring(tmp_path, capsys,
                                                                   monkeypatch):
    def measured(*args, **kwargs):
        raise AssertionError("the options were checked only after the analysis")

    monkeypatch.setattr(analyze.first_layer, "model_measures", measured)
    args = [MODEL, "--video-dir", str(heldout_dir())]
    assert analyze.main([*args, "--n-sequences", "-3"]) == 2
    _one_line_error(capsys, "--n-sequences must be >= 1")
    assert analyze.main([*args, "--json", str(tmp_path)]) == 2
    _one_line_error(capsys, "--json", "is a folder")
    assert analyze.main([*args, "--json", str(tmp_path / "absent" / "a.json")]) == 2
    _one_line_error(capsys, "--json", "does not exist")
    if os.geteuid() != 0:  # root writes through any mode bits
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        assert analyze.main([*args, "--json", str(locked / "a.json")]) == 2
        _one_line_error(capsys, "--json", "not writable")


def test_second_layer_takes_the_run_folders_lock(tmp_path, capsys, no_learning):
    """A learner resuming in the run folder holds its lock: csc-second-layer on that folder's
    model is refused at once instead of racing it for model.npz."""
    run = tmp_path / "run"
    with run_lock(Path(run)):
        assert second_layer.main(["--out", str(run)]) == 2
        _one_line_error(capsys, "in use by another run", f"process {os.getpid()}")
        (run / "model.npz").write_bytes(b"")
        assert second_layer.main([str(run / "model.npz")]) == 2
        _one_line_error(capsys, "in use by another run")


@pytest.mark.slow
def test_sizes_that_cannot_fit_are_refused_before_the_work(tmp_path, capsys, monkeypatch):
    def drawn(*args, **kwargs):
        raise AssertionError("sequences were drawn before the sizes were checked")

    monkeypatch.setattr(second_layer, "draw_sequences", drawn)
    assert second_layer.main(["--out", str(tmp_path / "sl"), "--n-motion", "10000000000"]) == 2
    _one_line_error(capsys, "--n-motion", "would need about", "of memory")
    for option in ("--n-components", "--whiten-patches", "--batch-size"):
        assert learn.main(["--out", str(tmp_path / "run"), option, "10000000000", "--quiet"]) == 2
        _one_line_error(capsys, option, "would need about", "of memory")
        assert not (tmp_path / "run").exists()
