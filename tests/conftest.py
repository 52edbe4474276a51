"""Shared fixtures: small random problems, the convex case solved by cvxpy; `toolchain_missing`
for the CUDA checks; `write_video_failing_at`, a real video that breaks partway through;
`dask_programs`, a cluster started as `dask scheduler` and `dask worker` programs."""
import csc.cli  # noqa: F401 -- first, before NumPy loads: sets the OpenBLAS spin time

# isort: split
import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Iterator

import numpy as np
import pytest

from csc.testing.planted import random_dictionary
from csc.threads import prefer_passive_openmp

prefer_passive_openmp()  # the test process, like the command-line tools (before any Numba pass)

# The suite states the CPU path's behaviour (float64 kept, its batching, bit-identical runs). On a
# GPU machine `auto` would pick the GPU, so the suite pins the CPU unless CSC_BACKEND is set; the
# GPU's own tests name backend="gpu". Set before any test process or cluster worker starts.
os.environ.setdefault("CSC_BACKEND", "cpu")


# --------------------------------------------------------------------------- test tiers
#: markers of the tiers a plain `python -m pytest` leaves out (registered in pytest.ini)
OPTIONAL_TIERS = ("slow", "cluster", "faults", "toolchain")


def pytest_addoption(parser):
    parser.addoption("--full", action="store_true",
                     help="run every tier (slow, cluster, faults, toolchain), as CI does")


def _leaves_tiers_out(config) -> bool:
    """A plain run of the test paths leaves the optional tiers out; `--full`, `-m EXPR` or test
    files named on the command line run what they select."""
    return (not config.getoption("--full") and not config.option.markexpr
            and config.args_source == pytest.Config.ArgsSource.TESTPATHS)


def pytest_collection_modifyitems(config, items):
    if not _leaves_tiers_out(config):
        return
    kept, left_out = [], []
    for item in items:
        (left_out if any(item.get_closest_marker(m) for m in OPTIONAL_TIERS) else kept).append(item)
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = kept


def pytest_terminal_summary(terminalreporter, config):
    if _leaves_tiers_out(config):
        terminalreporter.write_line(f"tiers left out: {', '.join(OPTIONAL_TIERS)}; "
                                    "`python -m pytest --full` runs everything, as CI does")


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


def random_problem(rng, B=3, T=6, K=5, M=10, dtype=np.float64):
    """X (B, T, M) real, D (K, M) complex normalised, Z (B, T, K) complex, w (M,) positive."""
    D = random_dictionary(K, M, rng, normalize="complex")
    X = rng.standard_normal((B, T, M)).astype(dtype)
    Z = rng.standard_normal((B, T, K)) + 1j * rng.standard_normal((B, T, K))
    w = rng.uniform(0.5, 2.0, M)
    return X, D, Z, w


def group_lasso_cvxpy(X, D, w, lam):
    """The convex case (l1, no slowness) solved by an independent conic solver (Clarabel via
    cvxpy) in real form: (optimal energy, optimal codes complex (B, T, K))."""
    cp = pytest.importorskip("cvxpy")
    B, T, M = X.shape
    K = D.shape[0]
    W = np.concatenate([D.real, D.imag])  # (2K, M)
    C = cp.Variable((B * T, 2 * K))
    Xf = X.reshape(B * T, M)
    resid = cp.multiply(Xf - C @ W, np.sqrt(w)[None, :])
    groups = cp.hstack([cp.norm(cp.hstack([C[:, [k]], C[:, [K + k]]]), 2, axis=1)
                        for k in range(K)])
    prob = cp.Problem(cp.Minimize(0.5 * cp.sum_squares(resid) + lam * cp.sum(groups)))
    prob.solve(solver=cp.CLARABEL, tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    Z = (C.value[:, :K] + 1j * C.value[:, K:]).reshape(B, T, K)
    return prob.value, Z


def toolchain_missing(reason: str) -> None:
    """Skip the calling test (or module) because nvcc or NVRTC is missing, or fail it when
    CSC_REQUIRE_NVCC=1 (as in CI), so that no kernel check can pass by not running."""
    if os.environ.get("CSC_REQUIRE_NVCC") == "1":
        pytest.fail(f"CSC_REQUIRE_NVCC=1 but {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


def gpu_missing(reason: str) -> None:
    """Skip the calling test because no usable GPU is here, or fail it when CSC_REQUIRE_GPU=1
    (run the suite so on a GPU machine: a GPU test then cannot pass by not running)."""
    if os.environ.get("CSC_REQUIRE_GPU") == "1":
        pytest.fail(f"CSC_REQUIRE_GPU=1 but {reason}", pytrace=False)
    pytest.skip(reason)


# --------------------------------------------------------------------------- csc-learn runs
#: the smallest csc-learn run that learns something, for the command-line tests
TINY = ["--patch-size", "6", "--n-frames", "4", "--n-components", "4", "--batch-size", "4",
        "--n-updates", "3", "--max-iter", "5", "--whiten-patches", "500", "--quiet"]


@pytest.fixture(scope="module")
def video_dir(tmp_path_factory):
    """Two short clips: a panning texture (.mp4) and a drifting grating (frame folder)."""
    from csc.testing.movies import (
        drifting_grating,
        pink_noise,
        transformed_movie,
        write_frame_folder,
        write_video,
    )

    root = tmp_path_factory.mktemp("videos")
    rng = np.random.default_rng(0)
    pan = transformed_movie(pink_noise((96, 96), rng), 24, 32, shift=(0.0, 1.0))
    write_video(root / "pan.mp4", pan, fps=25)
    write_frame_folder(root / "grating", drifting_grating(24, 32, wavelength=6.0, speed=1.0))
    return root


@pytest.fixture
def run(capsys):
    """csc-learn in this process: run(*args) → (returncode, stdout, stderr)."""
    from csc.cli import learn

    def run(*args):
        capsys.readouterr()
        code = learn.main([str(a) for a in args])
        out, err = capsys.readouterr()
        return SimpleNamespace(returncode=code, stdout=out, stderr=err)

    return run


def assert_one_line_error(res, *fragments):
    """A tool's result `res` (returncode, stdout, stderr) is bad input told in one line on
    stderr, with exit status 2, holding every fragment."""
    assert res.returncode == 2, (res.returncode, res.stdout, res.stderr)
    err = res.stderr.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    for f in fragments:
        assert f in err, err


def write_video_failing_at(path: Path, n_good: int, n_frames: int, size: int = 48) -> Path:
    """A .avi (MPEG-4 part 2, no B-frames: packet t holds frame t) of a 1/f texture panning 1
    pixel per frame, n_frames frames of size×size, whose packet `n_good` is overwritten with
    zeros: FFmpeg opens it and decodes frames 0..n_good-1, then fails ("Invalid data found when
    processing input"), every time. Returns the path."""
    import av

    from csc.testing.movies import pink_noise, transformed_movie, write_video

    movie = transformed_movie(pink_noise((2 * size, 2 * size), np.random.default_rng(11)),
                              n_frames, size, shift=(0.0, 1.0))
    write_video(path, movie)
    with av.open(str(path)) as container:
        packets = [(p.pos, p.size) for p in container.demux(video=0) if p.size]
    pos, nbytes = packets[n_good]
    with open(path, "r+b") as f:
        f.seek(pos)
        f.write(bytes(nbytes))
    return path


ROOT = Path(__file__).resolve().parents[1]


def command_env(**extra: str) -> dict[str, str]:
    """The environment of a tool run as its own process: this checkout first on PYTHONPATH."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])), **extra}


@contextlib.contextmanager
def dask_programs(folder: Path, n_workers: int = 2,
                  cwd: Path | None = None) -> Iterator[tuple[str, subprocess.Popen]]:
    """A Dask cluster started as programs: `dask scheduler` (writing its address in `folder`),
    then `dask worker` with `n_workers` one-thread processes, both running in `cwd` (None: this
    process's). Yields (scheduler address, scheduler process); both are stopped on exit."""
    dask = Path(sys.executable).with_name("dask")
    env = command_env(NUMBA_NUM_THREADS="1", OMP_WAIT_POLICY="PASSIVE")
    address_file = folder / "scheduler.json"
    procs = [subprocess.Popen([str(dask), "scheduler", "--scheduler-file", str(address_file),
                               "--port", "0", "--dashboard-address", ":0"], env=env,
                              cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        deadline = time.monotonic() + 60
        while not address_file.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        address = json.loads(address_file.read_text())["address"]
        procs.append(subprocess.Popen(
            [str(dask), "worker", address, "--nworkers", str(n_workers), "--nthreads", "1"],
            env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        yield address, procs[0]
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


TINY_PATCH = 8  # the tiny pixel model's patch size


@pytest.fixture(scope="module")
def model_file(tmp_path_factory):
    """A tiny PixelModel (8×8 patches, 6 units, Cauchy + l2 slowness) learned in a few updates
    on 1/f noise, saved: (model, path)."""
    import csc
    from csc.learning.estimator import ComplexSparseCoding
    from csc.testing.movies import pink_noise, transformed_movie
    from csc.video.whitening import PCAWhitener

    rng = np.random.default_rng(0)
    image = pink_noise((128, 128), rng)
    corners = rng.integers(0, 128 - TINY_PATCH, (1500, 2))
    whitener = PCAWhitener(TINY_PATCH).fit(
        np.stack([image[a:a + TINY_PATCH, b:b + TINY_PATCH] for a, b in corners]))
    movie = transformed_movie(image, 40, 64, shift=(0.3, 0.7))
    seqs = np.stack([movie[t:t + 4, a:a + TINY_PATCH, b:b + TINY_PATCH]
                     for t, a, b in zip(rng.integers(0, 36, 64), *rng.integers(0, 56, (2, 64)))])
    coder = ComplexSparseCoding(6, sparsity="cauchy", lam=1.0, slowness="l2", kappa=2.0,
                                weights=whitener.weights_, n_updates=4, batch_size=16,
                                max_iter=10, transform_max_iter=40, random_state=0,
                                backend="cpu")
    coder.fit(whitener.transform(seqs))
    model = csc.PixelModel(coder, whitener)
    path = tmp_path_factory.mktemp("model") / "model.npz"
    model.save(path)
    return model, path


