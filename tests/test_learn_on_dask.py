"""Learning on a real Dask cluster (`csc.cluster`, `csc.training.shards`): worker processes of a
`LocalCluster`, and `dask scheduler` / `dask worker` started as separate programs. The learned
model must equal the in-process run's bit for bit, through a resume and through a worker killed
with SIGKILL in the middle of the run."""
import contextlib
import http.server
import os
import signal
import socketserver
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

import csc
from csc.cluster import ClusterError, dask_client
from csc.learning.shards import shard_bounds
from csc.run_folder import RunError
from csc.training.clips import build_cache
from csc.training.config import TrainConfig
from csc.training.run import new_model, train
from csc.training.shards import DaskShards
from csc.video.reader import VideoError
from csc.video.sampling import cut_sequences, sample_positions
from tests.conftest import assert_one_line_error, command_env, dask_programs

distributed = pytest.importorskip("distributed")
pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[1]
TINY = dict(patch_size=6, n_frames=4, n_components=4, batch_size=8, shards=4, n_updates=12,
            max_iter=5, whiten_patches=500, cache_frames=120, checkpoint_every=4, seed=3)
TINY_ARGS = [f"--{k.replace('_', '-')}={v}" for k, v in TINY.items()]


def _config(video_dir, out, **changes) -> TrainConfig:
    return TrainConfig(video_dir=str(video_dir), out=str(out), **{**TINY, **changes})


def _assert_same_model(a, b):
    np.testing.assert_array_equal(a.components_, b.components_)
    assert a.coder.history_ == b.coder.history_


@pytest.fixture(scope="module")
def cluster():
    """A real LocalCluster of 2 worker processes (one thread each), as `--workers 2` starts."""
    from csc.cluster import WORKER_ENV

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  env=WORKER_ENV, dashboard_address=":0") as local:
        yield local


@pytest.fixture(scope="module")
def in_process(video_dir, tmp_path_factory):
    """The reference: the tiny run computed in this process."""
    return train(_config(video_dir, tmp_path_factory.mktemp("in_process") / "run"),
                 progress=False)


def test_shards_split_a_batch_in_fixed_contiguous_parts():
    assert shard_bounds(32, 4) == [(0, 8), (8, 16), (16, 24), (24, 32)]
    assert shard_bounds(10, 4) == [(0, 3), (3, 6), (6, 8), (8, 10)]
    assert shard_bounds(3, 8) == [(0, 1), (1, 2), (2, 3)]  # never an empty shard
    assert shard_bounds(5, 1) == [(0, 5)]


def test_workers_learn_the_in_process_model(video_dir, tmp_path, cluster, in_process):
    model = train(_config(video_dir, tmp_path / "run"), progress=False,
                  scheduler=cluster.scheduler_address)
    _assert_same_model(model, in_process)
    assert "shards on the Dask cluster" in (tmp_path / "run" / "train.log").read_text()


def test_random_starts_are_the_same_on_workers(video_dir, tmp_path, cluster):
    """With the authors' inference each shard starts from random codes drawn from (seed, update,
    shard index): workers learn the in-process model bit for bit."""
    paper = dict(inference="paper", sparsity="cauchy", lam=10.0, slowness="l2", kappa=0.5,
                 n_updates=4)
    here = train(_config(video_dir, tmp_path / "here", **paper), progress=False)
    there = train(_config(video_dir, tmp_path / "there", **paper), progress=False,
                  scheduler=cluster.scheduler_address)
    _assert_same_model(here, there)


def _set_worker_fingerprint(value):
    import csc.versioning

    csc.versioning._FINGERPRINT = value


def test_a_worker_running_another_csc_is_refused(video_dir, tmp_path, cluster):
    """A worker whose csc differs (here: its fingerprint set to that of a modified 0.0.9) is
    refused in one line, instead of learning another dictionary silently."""
    from csc.versioning import code_fingerprint

    with distributed.Client(cluster.scheduler_address) as client:
        client.run(_set_worker_fingerprint, "0.0.9 0123456789abcdef")
        try:
            with pytest.raises(RunError, match=r"a Dask worker runs another csc \(0.0.9 "
                                               r"0123456789abcdef\) than this process"):
                train(_config(video_dir, tmp_path / "run"), progress=False,
                      scheduler=cluster.scheduler_address)
        finally:
            client.run(_set_worker_fingerprint, None)
    assert code_fingerprint().startswith(csc.__version__ + " ")


def test_the_shard_count_and_not_the_workers_decides_the_model(video_dir, tmp_path, in_process):
    """A different number of shards is a different (valid) run; one shard is the whole batch."""
    other = train(_config(video_dir, tmp_path / "one", shards=1), progress=False)
    assert np.abs(other.components_ - in_process.components_).max() > 0
    assert other.coder.n_shards == 1 and in_process.coder.n_shards == 4


def test_a_run_on_workers_resumes_in_process_to_the_same_model(video_dir, tmp_path, cluster,
                                                               in_process):
    class Crash(Exception):
        pass

    def crash_after_6(done):
        if done == 6:
            raise Crash

    cfg = _config(video_dir, tmp_path / "run")
    with pytest.raises(Crash):
        train(cfg, progress=False, scheduler=cluster.scheduler_address, on_update=crash_after_6)
    assert csc.load(tmp_path / "run" / "model.npz").coder.n_updates_ == 4  # last checkpoint
    with pytest.raises(RunError, match=r"--shards 2 \(the run has 4\)"):
        train(_config(video_dir, tmp_path / "run", shards=2), resume=True, progress=False)
    _assert_same_model(train(cfg, resume=True, progress=False), in_process)


@pytest.mark.faults
def test_a_worker_killed_mid_run_changes_nothing(video_dir, tmp_path, cluster, in_process):
    """SIGKILL to a worker process while it holds a shard: Dask reruns the shard on a live
    worker (the nanny restarts the dead one, which reads the videos again), and the run ends
    with the uninterrupted model."""
    killed = []

    with distributed.Client(cluster) as watcher:
        pids = watcher.run(os.getpid)

        def kill_a_busy_worker():
            deadline = time.monotonic() + 5.0
            while time.monotonic() < deadline:
                busy = [w for w, keys in watcher.processing().items()
                        if any(str(k).startswith("csc-shard") for k in keys)]
                if busy:
                    os.kill(pids[busy[0]], signal.SIGKILL)
                    killed.append(pids[busy[0]])
                    return
                time.sleep(0.001)

        thread = None

        def start_killer(done):
            nonlocal thread
            if done == 3:
                thread = threading.Thread(target=kill_a_busy_worker, daemon=True)
                thread.start()

        model = train(_config(video_dir, tmp_path / "run", n_updates=30), progress=False,
                      scheduler=cluster.scheduler_address, on_update=start_killer)
        thread.join()
    assert killed, "no worker was caught holding a shard"
    with pytest.raises(ProcessLookupError):
        os.kill(killed[0], 0)
    reference = train(_config(video_dir, tmp_path / "ref", n_updates=30), progress=False)
    _assert_same_model(model, reference)


def test_statistics_from_other_clips_are_refused(video_dir, tmp_path, cluster):
    """Workers whose videos differ from the client's give another cache fingerprint."""
    cfg = _config(video_dir, tmp_path / "run")
    cache = build_cache(cfg)
    model = new_model(cfg, cache)
    positions = sample_positions(cache, 8, cfg.n_frames, cfg.patch_size,
                                 np.random.default_rng(0))
    model.coder.initialize(model.whitener.transform(
        cut_sequences(cache, positions, cfg.n_frames, cfg.patch_size)))
    with distributed.Client(cluster) as client:
        shards = DaskShards(client, cache, cfg, model.whitener)
        shards.fingerprint = "a cache read from other videos"
        with pytest.raises(RunError, match="same files at the same paths"):
            model.coder.update_from_shards(lambda plan: shards(plan, positions, [(0, 8)], 1))
        # a worker that cannot read the videos says so; any other failure of a shard is told
        # in one line with the way out
        shards.settings = {**shards.settings, "video_dir": str(tmp_path / "nowhere")}
        with pytest.raises(VideoError, match="nowhere"):
            model.coder.update_from_shards(lambda plan: shards(plan, positions, [(0, 8)], 2))
        shards.settings = {**shards.settings, "n_frames": "four"}
        with pytest.raises(RunError, match="the Dask cluster failed a shard of update 3 "
                                           r"\(TypeError.*continue with --resume"):
            model.coder.update_from_shards(lambda plan: shards(plan, positions, [(0, 8)], 3))
    assert model.coder.n_updates_ == 0


def test_cli_workers_and_bad_cluster_options(video_dir, tmp_path, run, in_process):
    res = run(video_dir, "--out", tmp_path / "run", *TINY_ARGS, "--workers", "2", "--quiet")
    assert res.returncode == 0, res.stderr
    _assert_same_model(csc.load(tmp_path / "run" / "model.npz"), in_process)
    assert_one_line_error(run(video_dir, "--out", tmp_path / "a", *TINY_ARGS, "--workers", "0"),
                          "--workers must be a positive integer")
    assert_one_line_error(run(video_dir, "--out", tmp_path / "b", *TINY_ARGS, "--workers", "2",
                              "--scheduler", "tcp://127.0.0.1:1"), "give one")
    assert_one_line_error(run(video_dir, "--out", tmp_path / "d", *TINY_ARGS, "--shards", "0"),
                          "--shards must be a positive integer")


def test_an_unreachable_scheduler_or_one_without_workers_is_told_in_one_line(cluster):
    with pytest.raises(ClusterError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        with dask_client(scheduler="tcp://127.0.0.1:9", connect_timeout=1):
            pass
    with distributed.LocalCluster(n_workers=0, processes=False, dashboard_address=":0") as empty:
        with pytest.raises(ClusterError, match="no worker joined .* within 1 s"):
            with dask_client(scheduler=empty.scheduler_address, worker_timeout=1):
                pass


def test_dask_scheduler_and_workers_started_as_programs(video_dir, tmp_path, in_process):
    """`dask scheduler` and `dask worker` as separate processes, csc-learn joining them with
    --scheduler from a third."""
    with dask_programs(tmp_path) as (address, _):
        res = subprocess.run([sys.executable, str(ROOT / "scripts" / "learn_dictionary.py"),
                              str(video_dir), "--out", str(tmp_path / "run"), *TINY_ARGS,
                              "--scheduler", address, "--quiet"],
                             capture_output=True, text=True, env=command_env(), timeout=300)
        assert res.returncode == 0, res.stderr
    _assert_same_model(csc.load(tmp_path / "run" / "model.npz"), in_process)


@contextlib.contextmanager
def _service(answer: str) -> Iterator[str]:
    """A TCP service on a free local port that is not a Dask scheduler, serving in a thread:
    "http" (an HTTP server: it waits for a request), "banner" (it greets with a line of text
    and waits), "hang-up" (it closes each connection at once). Yields its tcp:// address."""
    if answer == "http":
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                                 http.server.SimpleHTTPRequestHandler)
    else:
        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                if answer == "banner":
                    self.request.sendall(b"SSH-2.0-OpenSSH_9.6 a banner service\r\n")
                    time.sleep(30)

        server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"tcp://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("answer, told", [
    ("http", "sent no Dask greeting within 2 s"),
    ("banner", "greets with b'SSH-2.0-'"),
    ("hang-up", "closed the connection without a Dask greeting")])
def test_a_service_that_is_not_a_dask_scheduler_is_refused_in_one_line(video_dir, tmp_path,
                                                                      run, answer, told):
    """Dask's client alone waits without end on an HTTP server, and reads a text banner as a
    length to allocate (exabytes); csc checks the scheduler's greeting first."""
    with _service(answer) as address:
        started = time.monotonic()
        with pytest.raises(ClusterError, match=f"{address} is not a Dask scheduler: .*{told}"):
            with dask_client(scheduler=address, connect_timeout=2):
                pass
        assert time.monotonic() - started < 30  # told, not hung
        if answer == "banner":
            assert_one_line_error(run(video_dir, "--out", tmp_path / "run", *TINY_ARGS,
                                      "--scheduler", address), "is not a Dask scheduler")


def _until(condition, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)


def _learning(out: Path, *args: str, **popen) -> subprocess.Popen:
    """csc-learn as its own process on TINY settings (made long: 400 updates), stderr piped."""
    return subprocess.Popen([sys.executable, str(ROOT / "scripts" / "learn_dictionary.py"),
                             "--out", str(out), *TINY_ARGS, "--n-updates", "400",
                             "--checkpoint-every", "2", *args],
                            env=command_env(), stderr=subprocess.PIPE, text=True, **popen)


def _checkpointed(out: Path):
    return lambda: (out / "model.npz").exists()


@pytest.mark.faults
def test_ctrl_c_on_learning_with_workers_is_one_line(video_dir, tmp_path):
    """Ctrl-C in a terminal signals every process of the command, the local workers too: the
    command alone answers, with one line and exit status 130, and --resume goes on."""
    out = tmp_path / "run"
    proc = _learning(out, str(video_dir), "--workers", "2", "--quiet", start_new_session=True)
    _until(_checkpointed(out))
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == [f"csc-learn: interrupted; continue with --resume --out "
                                        f"{out}"]
    assert csc.load(out / "model.npz").coder.n_updates_ >= 2


@pytest.mark.faults
def test_the_scheduler_killed_mid_learning_is_one_line(video_dir, tmp_path):
    out = tmp_path / "run"
    with dask_programs(tmp_path, n_workers=1) as (address, scheduler):
        proc = _learning(out, str(video_dir), "--scheduler", address, "--quiet")
        _until(_checkpointed(out))
        scheduler.kill()
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err
    assert len(err.strip().splitlines()) == 1 and "continue with --resume" in err, err
    assert csc.load(out / "model.npz").coder.n_updates_ >= 2
