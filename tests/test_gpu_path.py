"""The GPU user path (backend="gpu") run end to end through the strict CuPy stand-in
(`csc.testing.strict_cupy`): CuPy's refusals (implicit host conversion, mixing with NumPy
arrays, Python numbers for C scalars) are enforced, the kernels' launches are checked against
their C parameter lists and run by the host emulation. Tiny sizes: the emulation is one thread.
"""
import numpy as np
import pytest
from conftest import TINY, toolchain_missing

import csc
from csc.backends.backend import array_module, to_numpy
from csc.selfcheck import PRIORS, prior_label
from csc.testing.host_kernels import nvcc_available
from csc.testing.planted import random_dictionary
from csc.testing.strict_cupy import install, ndarray

if not nvcc_available():
    toolchain_missing("nvcc not found: the stand-in's kernels run the host emulation")


@pytest.fixture(scope="module")
def cupy():
    with install() as mod:
        yield mod


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(3)
    D = random_dictionary(6, 12, rng, normalize="complex")
    X = rng.standard_normal((3, 4, 12)).astype(np.float32)
    return X, D


def _rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-30)


# --------------------------------------------------------------------------- encode
@pytest.mark.parametrize("prior", PRIORS,
                         ids=[prior_label(p) for p in PRIORS])
def test_encode_every_prior_matches_the_cpu(cupy, problem, prior):
    X, D = problem
    Zg = csc.encode(X, D, backend="gpu", max_iter=200, tol=1e-7, **prior)
    Zc = csc.encode(X, D, backend="cpu", max_iter=200, tol=1e-7, **prior)
    assert isinstance(Zg, np.ndarray) and Zg.dtype == np.complex64
    assert _rel(csc.energy(X, Zg, D, **prior)["total"],
                csc.energy(X, Zc, D, **prior)["total"]) <= 1e-4


@pytest.mark.parametrize("prior", [PRIORS[2], PRIORS[4]],
                         ids=["l1 + l1", "cauchy + l2"])
def test_encode_from_starting_codes(cupy, problem, prior):
    """A warm start evaluates the prior energy of device codes (`csc.core.fista.prior_energy`)."""
    X, D = problem
    Z0 = csc.encode(X, D, backend="cpu", max_iter=3, **prior)
    Zg = csc.encode(X, D, backend="gpu", init=Z0, max_iter=50, **prior)
    Zc = csc.encode(X, D, backend="cpu", init=Z0, max_iter=50, **prior)
    assert _rel(csc.energy(X, Zg, D, **prior)["total"],
                csc.energy(X, Zc, D, **prior)["total"]) <= 1e-4


def test_prior_energy_of_device_codes(cupy, problem):
    from csc.core.fista import prior_energy
    from csc.priors import make_prior

    C = np.random.default_rng(0).standard_normal((12, 8)).astype(np.float32)
    for prior in PRIORS:
        p = make_prior(**prior)
        assert prior_energy(cupy.asarray(C), 4, p) == pytest.approx(prior_energy(C, 4, p))


# --------------------------------------------------------------------------- the estimator
@pytest.mark.parametrize("learning", ["sgd", "online"])
def test_estimator_on_float32_and_float64_data(cupy, learning):
    """fit / partial_fit / transform / inverse_transform with backend="gpu": float64 data is
    cast to float32 on the device (the kernels' type), as `encode` does, so it learns exactly
    what float32 data learns."""
    X = np.random.default_rng(1).standard_normal((6, 4, 10))
    kw = dict(n_updates=2, batch_size=3, max_iter=10, random_state=0, learning=learning)
    fits = {}
    for dtype in (np.float32, np.float64):
        m = csc.ComplexSparseCoding(4, backend="gpu", **kw).fit(X.astype(dtype))
        Z = m.transform(X.astype(dtype))
        assert Z.dtype == np.complex64 and Z.shape == (6, 4, 4)
        R = m.inverse_transform(Z)
        assert isinstance(R, np.ndarray) and R.shape == X.shape
        m.partial_fit(X.astype(dtype))
        assert m.n_updates_ == 3 and np.isfinite(m.components_).all()
        fits[dtype] = m
    np.testing.assert_allclose(fits[np.float64].components_, fits[np.float32].components_,
                               rtol=1e-5, atol=1e-6)
    cpu = csc.ComplexSparseCoding(4, backend="cpu", **kw).fit(X.astype(np.float32))
    np.testing.assert_allclose(fits[np.float32].history_["energy"][:2], cpu.history_["energy"],
                               rtol=1e-3)


def test_paper_inference_on_the_device_matches_the_cpu(cupy):
    """inference="paper" (`csc.core.polar_inference`) is array code of `xp`: on the stand-in it
    takes CuPy arrays end to end, from the same host-drawn random start as the CPU."""
    X = np.random.default_rng(2).standard_normal((6, 4, 10)).astype(np.float32)
    kw = dict(n_updates=2, batch_size=3, max_iter=15, random_state=0, inference="paper",
              sparsity="cauchy", lam=1.0, slowness="l2", kappa=0.5)
    gpu = csc.ComplexSparseCoding(4, backend="gpu", **kw).fit(X)
    cpu = csc.ComplexSparseCoding(4, backend="cpu", **kw).fit(X)
    np.testing.assert_allclose(gpu.history_["energy"], cpu.history_["energy"], rtol=1e-4)
    np.testing.assert_allclose(gpu.components_, cpu.components_, rtol=1e-4, atol=1e-5)


def test_paper_inference_reads_the_host_a_few_times_per_iteration(cupy, monkeypatch):
    """Every host read of the polar descent is counted (`get` and `float` of device arrays): one
    per energy evaluation, and a few per iteration for the step's scalars, not one per sum."""
    from csc.core.model import dictionary_to_real
    from csc.core.polar_inference import polar_bb, random_start
    from csc.priors import make_prior

    reads = []
    for name in ("get", "__float__"):
        original = getattr(ndarray, name)
        monkeypatch.setattr(ndarray, name, lambda self, *a, _f=original, **k: (
            reads.append(1), _f(self, *a, **k))[1])
    rng = np.random.default_rng(0)
    D = random_dictionary(6, 12, rng, normalize="complex")
    X = rng.standard_normal((12, 12)).astype(np.float32)
    prior = make_prior(sparsity="cauchy", lam=1.0, slowness="l2", kappa=0.5)
    W = cupy.asarray(dictionary_to_real(D, np.float32))
    C0 = cupy.asarray(random_start(12, 6, 0).astype(np.float32))
    _, info = polar_bb(cupy.asarray(X), W, cupy.asarray(prior.weight_vector(12, np.float32)),
                       prior, 4, C0, xp=cupy)
    assert info.n_iter == 15
    # start: 1; per iteration: the step's scalars, the gradient's size, the energy; per
    # backtracking step: its slope and its energy; the end: the slowness before and after
    assert len(reads) <= 1 + 4 * info.n_iter + 2 * info.n_restarts + 2


# --------------------------------------------------------------------------- whitening
@pytest.mark.parametrize("kind", ["pca", "of"])
def test_whiteners_on_device_arrays(cupy, kind):
    from csc.video.whitening import make_whitener

    rng = np.random.default_rng(2)
    patches = rng.standard_normal((200, 5, 5))
    w = make_whitener(kind, 5).fit(patches)
    F = w.transform(cupy.asarray(patches[:7]))
    assert isinstance(F, ndarray) and array_module(F) is cupy and F.dtype == np.float32
    np.testing.assert_allclose(to_numpy(F), w.transform(patches[:7]), rtol=1e-5, atol=1e-5)
    P = w.inverse_transform(F)
    assert isinstance(P, ndarray) and P.dtype == np.float32
    np.testing.assert_allclose(to_numpy(P), w.inverse_transform(to_numpy(F)), rtol=1e-5,
                               atol=1e-5)


# --------------------------------------------------------------------------- the tools
@pytest.fixture(scope="module")
def gpu_runs(cupy, video_dir, tmp_path_factory):
    """csc-learn --backend gpu runs, PCA and OF whitening: whitening → run folder."""
    from csc.cli import learn

    root = tmp_path_factory.mktemp("gpu_runs")
    codes = {w: learn.main([str(video_dir), "--out", str(root / w), *TINY, "--n-frames", "6",
                            "--backend", "gpu", "--whitening", w]) for w in ("pca", "of")}
    return root, codes


@pytest.mark.slow
@pytest.mark.parametrize("whitening", ["pca", "of"])
def test_learn_dictionary_on_the_gpu(gpu_runs, whitening):
    root, codes = gpu_runs
    assert codes[whitening] == 0
    model = csc.load(root / whitening / "model.npz")
    assert model.coder.backend == "gpu" and model.coder.n_updates_ == 3
    assert np.isfinite(model.coder.components_).all()


def test_second_layer_and_transfer_on_the_gpu(gpu_runs, capsys):
    from csc.analysis import transfer
    from csc.cli import second_layer
    from csc.testing.movies import pink_noise, transformed_movie

    root, codes = gpu_runs
    assert codes["pca"] == 0
    path = root / "pca" / "model.npz"
    code = second_layer.main([str(path), "--n-motion", "2", "--n-form", "2", "--n-sequences",
                              "6", "--n-updates", "2", "--no-tuning"])
    assert code == 0, capsys.readouterr().err
    model = csc.load(path)
    assert model.coder.backend == "gpu" and model.motion_units.components_.shape[1] == 2
    rng = np.random.default_rng(4)
    p = model.patch_size
    source = transformed_movie(pink_noise((32, 32), rng), 4, p, shift=(0.0, 1.0))
    target = pink_noise((p, p), rng)
    for method in ("translation", "motion"):
        pred = transfer.predict(model, source, target, method=method)
        assert pred.shape == (4, p, p) and np.isfinite(pred).all()


def test_selfcheck_require_gpu_passes(cupy, capsys, monkeypatch):
    from csc import selfcheck

    small = selfcheck.run_checks
    monkeypatch.setattr(selfcheck, "run_checks", lambda seed=0: small(
        n_sequences=2, n_frames=4, n_features=16, n_components=8, seed=seed, max_iter=100))
    assert selfcheck.main(["--require-gpu"]) == 0, capsys.readouterr().out
    out = capsys.readouterr().out
    assert "GPU NOT checked" not in out
    assert f"GPU checked: all {len(selfcheck.PRIORS)} priors agree with the CPU" in out


# --------------------------------------------------------------------------- streaming
@pytest.mark.parametrize("tol", [0.0, 1e-3])
def test_stream_on_the_device_matches_the_cpu_and_reads_the_host_once_a_frame(
        cupy, model_file, monkeypatch, tol):
    """`csc.stream` is array code of `xp` around the fused prox pass: on the stand-in its
    codes are the CPU's, and with a fixed budget (tol 0) the only host read of a frame is its
    codes at the end (tol > 0 adds one read of the change every 4 iterations)."""
    from csc.testing.movies import pink_noise, transformed_movie

    model, _ = model_file
    image = pink_noise((64, 64), np.random.default_rng(5))
    frames = transformed_movie(image, 4, 32, shift=(0.5, 0.7))[:, :16, :20]
    cpu = [f.codes for f in csc.stream(model, frames, stride=4, max_iter=8, tol=tol,
                                       backend="cpu")]
    reads = []
    original = ndarray.get
    monkeypatch.setattr(ndarray, "get", lambda self, *a, **k: (reads.append(1),
                                                               original(self, *a, **k))[1])
    frames_out = csc.stream(model, frames, stride=4, max_iter=8, tol=tol, backend="gpu")
    reads.clear()  # choosing the backend probes the device once
    gpu = list(frames_out)
    np.testing.assert_allclose(np.stack([f.codes for f in gpu]), np.stack(cpu), rtol=1e-4,
                               atol=1e-5)
    if tol == 0:
        assert len(reads) == len(frames)
