"""`csc`, one command for every tool: `csc SUBCOMMAND` runs the same code as the matching
`csc-*` console script, `csc --version` and `csc --help` answer at once, and a missing or
unknown subcommand is one line with exit status 2."""
import subprocess
import sys

import pytest

import csc
from csc.cli.main import SUBCOMMANDS, main
from csc.resources import heldout_dir


def _python_m(*args):
    return subprocess.run([sys.executable, "-m", "csc", *args], capture_output=True, text=True,
                          timeout=300)


def test_version_and_help_in_a_fresh_interpreter():
    res = _python_m("--version")
    assert res.returncode == 0 and res.stdout.strip() == f"csc {csc.__version__}"
    res = _python_m("--help")
    assert res.returncode == 0
    for name in SUBCOMMANDS:
        assert f"\n  {name} " in res.stdout


@pytest.mark.parametrize("args, message", [([], "give a subcommand"),
                                           (["learnn"], "unknown subcommand 'learnn'")])
def test_no_or_an_unknown_subcommand_is_one_line(capsys, args, message):
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and "encode-video" in err[0]


@pytest.mark.parametrize("name", list(SUBCOMMANDS))
def test_each_subcommand_is_its_console_scripts_tool(capsys, name):
    """`csc NAME --help` prints the help of the module behind `csc-NAME`, exit status 0."""
    import importlib

    assert main([name, "--help"]) == 0
    ours = capsys.readouterr().out
    module = importlib.import_module(SUBCOMMANDS[name][0])
    with pytest.raises(SystemExit) as exc:
        module.main(["--help"])
    assert exc.value.code == 0
    assert ours == capsys.readouterr().out and "usage:" in ours


def test_a_subcommand_runs_and_returns_its_status(tmp_path, capsys):
    clip = str(heldout_dir() / "tree.avi")
    assert main(["stream", clip, "--downsample", "4", "--every-frame", "--max-frames", "2",
                 "--quiet"]) == 0
    assert main(["stream", str(tmp_path / "missing.avi"), "--quiet"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


#: one spelling per shared option: the subcommands that take it
SHARED_SPELLINGS = {
    "--video-dir": ("analyze", "factorization", "second-layer"),   # held-out videos to measure on
    "--max-frames": ("learn", "predict", "encode-video", "stream"),
    "--out": ("learn", "second-layer", "transfer", "predict", "encode-video"),
    "--seed": ("learn", "analyze", "factorization", "second-layer", "transfer", "predict",
               "benchmark", "selfcheck"),
    "--downsample": ("learn", "predict", "encode-video", "stream"),
    "--backend": ("learn", "encode-video", "stream", "benchmark"),
    "--quiet": ("learn", "transfer", "encode-video", "stream"),
}


def test_shared_options_are_spelled_the_same_in_every_subcommand(capsys):
    for option, names in SHARED_SPELLINGS.items():
        for name in names:
            assert main([name, "--help"]) == 0
            assert f" {option} " in capsys.readouterr().out.replace("\n", " "), (name, option)
    # the older spellings stay as aliases of the same settings
    from csc.cli import learn, second_layer

    assert learn.build_parser().parse_args(["--out", "r", "--max-frames", "5"]) \
        .max_frames_per_video == 5
    for spelling in ("--video-dir", "--heldout-dir"):
        assert second_layer.build_parser().parse_args([spelling, "v"]).heldout_dir == "v"
