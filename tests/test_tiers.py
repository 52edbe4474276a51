"""The test tiers (pytest.ini, tests/conftest.py): a plain run leaves the optional tiers out and
says so, `--full` and named files run them, and an unregistered marker is refused."""
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _collect(*args: str) -> tuple[set[str], str]:
    """The test ids `python -m pytest --co -q ARGS` collects in the repository, and its output."""
    res = subprocess.run([sys.executable, "-m", "pytest", "--co", "-q", "-p", "no:cacheprovider",
                          *args], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    return {line for line in res.stdout.splitlines() if "::" in line}, res.stdout


@pytest.mark.slow
def test_a_plain_run_leaves_the_optional_tiers_out_and_full_runs_them():
    plain, out = _collect()
    full, _ = _collect("--full")
    cluster, _ = _collect("-m", "cluster")
    assert plain < full and "deselected" in out
    left_out = full - plain
    # a test of each tier, by name, on the right side
    this = "tests/test_tiers.py::test_a_plain_run_leaves_the_optional_tiers_out_and_full_runs_them"
    assert this in left_out                                                           # slow
    assert any(t.startswith("tests/test_learn_on_dask.py::") for t in left_out)      # cluster
    assert any("kill_9" in t for t in left_out)                                       # faults
    assert any(t.startswith("tests/test_sanitizers.py::") for t in left_out) or \
        not any(t.startswith("tests/test_sanitizers.py::") for t in full)             # toolchain
    assert "tests/test_learning.py::test_planted_dictionary_is_recovered[l1-l2slow-online]" \
        in plain
    assert cluster and cluster <= left_out
    assert all(t.startswith(("tests/test_learn_on_dask.py::", "tests/test_encode_video.py::"))
               for t in cluster)


@pytest.mark.slow
def test_a_named_file_runs_every_tier_in_it():
    named, _ = _collect("tests/test_run_folder.py")
    assert any("kill_9" in t for t in named)


def test_an_unregistered_marker_is_refused(tmp_path):
    (tmp_path / "test_x.py").write_text(
        "import pytest\n\n@pytest.mark.sloow\ndef test_x():\n    pass\n")
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "-c", str(ROOT / "pytest.ini"), "--rootdir", str(tmp_path),
                          str(tmp_path / "test_x.py")],
                         capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert res.returncode != 0 and "'sloow' not found in `markers`" in res.stdout + res.stderr
