"""The run folder of csc-learn: its lock, atomic files, stale temporaries, what --resume accepts,
history.csv, system errors, and recovery from kill -9 at any moment (fault injection)."""
import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY, assert_one_line_error

import csc
from csc import io
from csc.run_folder import HistoryLog, RunError, run_lock
from csc.training.config import TrainConfig
from csc.training.run import train

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "learn_dictionary.py"


def _arrays(path):
    return io.read(path)[1]


# --------------------------------------------------------------------------- lock
@pytest.mark.slow
def test_a_run_folder_in_use_is_refused_and_free_again_after(tmp_path, video_dir, run):
    out = tmp_path / "run"
    with run_lock(out):  # another process would hold the same flock
        assert_one_line_error(run(video_dir, "--out", out, *TINY), "in use by another run",
                              str(os.getpid()))
        assert not (out / "model.npz").exists()
        code = subprocess.run([sys.executable, str(SCRIPT), str(video_dir), "--out",
                               str(out), *TINY], capture_output=True, text=True, timeout=300)
        assert code.returncode == 2 and "in use by another run" in code.stderr, code.stderr
    assert run(video_dir, "--out", out, *TINY).returncode == 0


def test_a_refused_run_leaves_no_folder_behind(tmp_path, run):
    out = tmp_path / "run"
    assert_one_line_error(run(tmp_path / "no-videos", "--out", out, *TINY), "no such folder")
    assert not out.exists()


def test_the_lock_is_released_when_its_holder_dies(tmp_path):
    out = tmp_path / "run"
    holder = subprocess.Popen([sys.executable, "-c",
                               "import sys, time; from pathlib import Path; "
                               "from csc.run_folder import run_lock\n"
                               "with run_lock(Path(sys.argv[1])):\n"
                               "    print('locked', flush=True); time.sleep(600)", str(out)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunError, match=f"process {holder.pid}"):
            with run_lock(out):
                pass
    finally:
        holder.kill()
        holder.wait()
    with run_lock(out):  # kill -9 released it
        pass


# --------------------------------------------------------------------------- files
@pytest.mark.slow
def test_stale_temporaries_are_removed_and_damaged_config_recovered(tmp_path, video_dir, run):
    out = tmp_path / "run"
    assert run(video_dir, "--out", out, *TINY, "--checkpoint-every", "1").returncode == 0
    stale = out / "model.npz.dead1234.tmp"
    stale.write_bytes(b"\0" * 4096)
    (out / "config.json").write_bytes(b"")  # what a kill used to leave
    res = run("--out", out, "--resume", "--n-updates", "5", "--quiet")
    assert res.returncode == 0, res.stderr
    assert not stale.exists() and "temporary files" in (out / "train.log").read_text()
    assert json.loads((out / "config.json").read_text())["n_updates"] == 5
    assert csc.load(out / "model.npz").coder.n_updates_ == 5


def test_files_get_the_permissions_of_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        io.write_json(tmp_path / "a.json", {"a": 1})
        assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o644
        os.umask(0o077)
        io.write_json(tmp_path / "b.json", {"a": 1})
        assert (tmp_path / "b.json").stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(old)


@pytest.mark.faults
def test_a_full_disk_is_one_line_and_keeps_the_checkpoint(tmp_path, video_dir, run,
                                                           monkeypatch):
    out = tmp_path / "run"
    assert run(video_dir, "--out", out, *TINY).returncode == 0
    before = (out / "model.npz").read_bytes()

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "model.npz")

    monkeypatch.setattr(os, "fsync", full)
    assert_one_line_error(run("--out", out, "--resume", "--n-updates", "5", "--quiet"),
                          "No space left on device")
    monkeypatch.undo()
    assert (out / "model.npz").read_bytes() == before
    assert not list(out.glob("*.tmp"))
    (tmp_path / "file").write_text("")
    assert_one_line_error(run(video_dir, "--out", tmp_path / "file" / "run", *TINY),
                          "Not a directory")


# --------------------------------------------------------------------------- --resume
@pytest.mark.slow
def test_resume_refuses_changed_settings_and_honours_the_rest(tmp_path, video_dir, run):
    out = tmp_path / "run"
    moved = tmp_path / "moved"
    shutil.copytree(video_dir, tmp_path / "videos")
    assert run(os.path.relpath(tmp_path / "videos"), "--out", out, *TINY).returncode == 0
    saved = json.loads((out / "config.json").read_text())
    assert saved["video_dir"] == str(tmp_path / "videos")  # absolute
    res = run("--out", out, "--resume", "--patch-size", "8", "--lam", "3", "--quiet")
    assert_one_line_error(res, "--patch-size 8 (the run has 6)", "--lam 3.0 (the run has 60.0)")
    assert_one_line_error(run("--out", out, "--resume", "--preset", "paper", "--quiet"),
                          "--sparsity cauchy (the run has l1)")
    assert_one_line_error(run("--out", out, "--resume", "--force", "--quiet"), "--force")
    # the same values again are no change
    assert run("--out", out, "--resume", "--patch-size", "6", "--n-updates", "4",
               "--quiet").returncode == 0
    (tmp_path / "videos").rename(moved)
    assert_one_line_error(run("--out", out, "--resume", "--n-updates", "5", "--quiet"),
                          "no longer exists", "VIDEO_DIR")
    res = run(moved, "--out", out, "--resume", "--n-updates", "5", "--checkpoint-every", "2",
              "--quiet")
    assert res.returncode == 0, res.stderr
    log = (out / "train.log").read_text()
    assert f"resumed with --video-dir {moved}" in log and "--n-updates 5 (was 4)" in log
    saved = json.loads((out / "config.json").read_text())
    assert (saved["video_dir"], saved["n_updates"], saved["checkpoint_every"]) == \
        (str(moved), 5, 2)
    assert csc.load(out / "model.npz").coder.n_updates_ == 5


# --------------------------------------------------------------------------- history.csv
@pytest.mark.slow
def test_checkpoints_append_the_history_and_do_not_grow(tmp_path, video_dir, run):
    out = tmp_path / "run"
    res = run(video_dir, "--out", out, *TINY, "--n-updates", "6", "--checkpoint-every", "2")
    assert res.returncode == 0
    final = csc.load(out / "model.npz").coder.history_
    assert len(final["energy"]) == 6  # the finished model carries its history
    rows = (out / "history.csv").read_text().splitlines()
    assert rows[0] == "update,energy,snr,active,n_iter" and len(rows) == 7
    assert [float(r.split(",")[1]) for r in rows[1:]] == final["energy"]  # bit for bit
    # a checkpoint's model.npz holds no history: its cost does not grow with the run
    seen = {}

    def look(done):
        if done < 6:
            seen[done] = (csc.load(out / "model.npz").coder.history_["energy"],
                          (out / "model.npz").stat().st_size,
                          len((out / "history.csv").read_text().splitlines()) - 1)

    cfg = TrainConfig(video_dir=str(video_dir), out=str(out), patch_size=6, n_frames=4,
                      n_components=4, batch_size=4, n_updates=6, max_iter=5, whiten_patches=500,
                      checkpoint_every=1)
    train(cfg, force=True, progress=False, on_update=look)
    assert all(energy == [] and rows == done for done, (energy, _, rows) in seen.items())
    assert abs(seen[5][1] - seen[1][1]) < 64  # the JSON state's numbers may differ in length


def test_history_rows_after_the_checkpoint_are_cut_on_resume(tmp_path):
    log = HistoryLog(tmp_path / "history.csv")
    log.start()
    history = {"energy": [1.0, 0.5, 1 / 3], "snr": [1.0, 2.0, 3.0], "active": [0.1] * 3,
               "n_iter": [5, 6, 7]}
    log.append(history, 3)
    with open(log.path, "a") as f:
        f.write("4,0.2,0.")  # a kill in the middle of an append
    again = HistoryLog(log.path).restore(2, {})
    assert again == {k: v[:2] for k, v in history.items()}
    assert len(log.path.read_text().splitlines()) == 3
    with pytest.raises(RunError, match="holds 2 updates"):
        HistoryLog(log.path).restore(3, {})


# --------------------------------------------------------------------------- fault injection
#: csc-learn in a child that kills itself (SIGKILL) at its `k`-th call of os.fsync or
#: os.replace, before or after the real call: in the middle of writing model.npz, config.json,
#: history.csv or a figure (k = 0: never)
def _history_rows(out) -> int:
    """Updates in the run folder's history.csv (0 before it exists)."""
    try:
        return max(len((out / "history.csv").read_text().splitlines()) - 1, 0)
    except OSError:
        return 0


_SELF_KILLER = """
import os, signal, sys
k, calls = int(sys.argv[1]), [0]

def lethal(real):
    def call(*args):
        calls[0] += 1
        if calls[0] == k:
            os.kill(os.getpid(), signal.SIGKILL)
        real(*args)
        calls[0] += 1
        if calls[0] == k:
            os.kill(os.getpid(), signal.SIGKILL)
    return call

os.fsync, os.replace = lethal(os.fsync), lethal(os.replace)
from csc.cli.learn import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.faults
def test_kill_9_at_random_moments_then_resume_gives_the_uninterrupted_model(tmp_path,
                                                                             video_dir):
    """kill -9 from outside once the run has checkpointed a random number of updates more, or
    from inside in the middle of a file write; each time the run is resumed (or restarted, if
    it died before its first checkpoint). The final model is bit-identical to an uninterrupted
    run's. The outside kill waits for progress, not for a time: a time is machine-dependent,
    and a fast run finished before it."""
    options = [*TINY, "--n-updates", "24", "--checkpoint-every", "1"]
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}

    def start(out, k=0):
        resume = ["--resume"] if (out / "model.npz").exists() else [str(video_dir)]
        return subprocess.Popen([sys.executable, "-c", _SELF_KILLER, str(k), *resume, "--out",
                                 str(out), *options], env=env, stderr=subprocess.PIPE, text=True)

    clean = start(tmp_path / "clean")
    assert clean.wait(timeout=300) == 0, clean.stderr.read()
    rng = np.random.default_rng(2)
    out, kills = tmp_path / "faulted", 0
    for trial in range(8):
        if trial % 2:  # from inside, during a write
            proc = start(out, k=int(rng.integers(1, 13)))  # within 2 updates or the start
            proc.wait(timeout=300)
        else:  # from outside, after a random number of further checkpoints
            done = _history_rows(out)
            proc = start(out)
            target = done + int(rng.integers(1, 5))
            while proc.poll() is None and _history_rows(out) < target:
                time.sleep(0.002)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        kills += proc.returncode == -signal.SIGKILL
        assert proc.returncode in (0, -signal.SIGKILL), proc.stderr.read()
        if proc.returncode == 0:
            break
    while proc.returncode != 0:
        proc = start(out)
        assert proc.wait(timeout=300) == 0, proc.stderr.read()
    assert kills >= 4
    a, b = _arrays(tmp_path / "clean" / "model.npz"), _arrays(out / "model.npz")
    extra_a, extra_b = (io.from_json_array(x.pop("extra")) for x in (a, b))
    assert extra_a["batch_rng"] == extra_b["batch_rng"]
    assert a.keys() == b.keys()
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert (tmp_path / "clean" / "history.csv").read_bytes() == (out / "history.csv").read_bytes()
    assert not list(out.glob("*.tmp"))  # the last start removed what the kills left


# --------------------------------------------------------------------------- divergence
@pytest.mark.faults
def test_a_diverging_run_stops_clearly_and_keeps_its_last_checkpoint(tmp_path, video_dir,
                                                                      monkeypatch):
    """From update 5 on the whitened batches are scaled by 1e20 (float32 energies overflow): the
    run stops with one clear error, and model.npz stays the checkpoint of update 4."""
    from csc.video.whitening import PCAWhitener

    out, state = tmp_path / "run", {"done": 0}
    transform = PCAWhitener.transform
    monkeypatch.setattr(PCAWhitener, "transform", lambda self, P: transform(self, P) * (
        np.float32(1e20) if state["done"] >= 4 else np.float32(1)))
    cfg = TrainConfig(video_dir=str(video_dir), out=str(out), patch_size=6, n_frames=4,
                      n_components=4, batch_size=4, n_updates=8, max_iter=5, whiten_patches=500,
                      checkpoint_every=2)
    with pytest.raises(RunError, match=r"update 5.*keeps the last good checkpoint \(update 4\)"):
        train(cfg, progress=False, on_update=lambda done: state.update(done=done))
    saved = csc.load(out / "model.npz")
    assert saved.coder.n_updates_ == 4 and np.all(np.isfinite(saved.components_))
    assert len((out / "history.csv").read_text().splitlines()) == 5


@pytest.mark.slow
def test_resume_on_other_videos_warns_that_the_run_changes(tmp_path, video_dir, run):
    out, fewer = tmp_path / "run", tmp_path / "fewer"
    assert run(video_dir, "--out", out, *TINY).returncode == 0
    fewer.mkdir()
    shutil.copy(video_dir / "pan.mp4", fewer / "pan.mp4")
    assert run(fewer, "--out", out, "--resume", "--n-updates", "4", "--quiet").returncode == 0
    assert "another clip cache" in (out / "train.log").read_text()
