"""csc.analysis: phase velocity, lag-1 autocorrelation, factorisation statistics; the
csc-factorization tool."""
import json

import numpy as np
import pytest

from csc import analysis
from csc.cli import factorization
from csc.testing.movies import drifting_grating, write_frame_folder
from csc.training.config import TrainConfig
from csc.training.run import train


def drifting_codes(rng, n_seq=20, T=40, K=6, rates=None, amp=None):
    rates = np.linspace(-2.9, 2.9, K) if rates is None else np.asarray(rates)
    phi0 = rng.uniform(-np.pi, np.pi, (n_seq, 1, K))
    phi = phi0 + rates * np.arange(T)[None, :, None]
    a = np.ones((n_seq, T, K)) if amp is None else amp
    return a * np.exp(1j * phi), rates


def test_wrap():
    d = np.array([0.0, np.pi, -np.pi, 3 * np.pi, 2 * np.pi + 0.1, -2 * np.pi - 0.1])
    w = analysis.wrap(d)
    np.testing.assert_allclose(w, [0, np.pi, np.pi, np.pi, 0.1, -0.1], atol=1e-12)


def test_phase_velocity_recovers_rates_across_the_cut():
    rng = np.random.default_rng(0)
    Z, rates = drifting_codes(rng)  # rates up to ±2.9 rad/frame: phases cross ±π constantly
    delta, mask = analysis.phase_velocity(Z.astype(np.complex64))
    assert delta.shape == mask.shape == (20, 39, 6) and mask.dtype == bool
    assert mask.all()
    np.testing.assert_allclose(delta, np.broadcast_to(rates, delta.shape), atol=1e-5)
    assert np.all(delta > -np.pi) and np.all(delta <= np.pi)
    # a rate just below π wraps to itself; a rate of 3π/2 reads as −π/2
    Z2, _ = drifting_codes(rng, K=2, rates=[np.pi - 1e-3, 1.5 * np.pi])
    d2, _ = analysis.phase_velocity(Z2)
    np.testing.assert_allclose(d2[..., 0], np.pi - 1e-3, atol=1e-9)
    np.testing.assert_allclose(d2[..., 1], -np.pi / 2, atol=1e-9)


def test_phase_velocity_mask_excludes_small_amplitudes():
    rng = np.random.default_rng(1)
    a = np.ones((3, 10, 2))
    a[:, 4, 0] = 0.05           # below 0.1 × max on unit 0 at frame 4
    a[:, :, 1] = 2.0
    a[:, 7, 1] = 0.0            # unit 1 off at frame 7
    Z, _ = drifting_codes(rng, n_seq=3, T=10, K=2, rates=[0.3, -0.2], amp=a)
    delta, mask = analysis.phase_velocity(Z)
    assert not mask[:, 3, 0].any() and not mask[:, 4, 0].any()   # pairs (3,4) and (4,5)
    assert mask[:, [0, 1, 2, 5, 6, 7, 8], 0].all()
    assert not mask[:, 6, 1].any() and not mask[:, 7, 1].any()
    assert mask.sum() == 3 * (9 * 2 - 4)
    assert np.all(delta[:, 7, 1] == 0)  # undefined phase → 0
    # absolute threshold: 1.5 removes all of unit 0 (amplitude 1) and keeps unit 1
    _, m_abs = analysis.phase_velocity(Z, threshold=1.5)
    assert not m_abs[..., 0].any() and m_abs[..., 1].sum() == 3 * 7
    # per-unit thresholds
    _, m_k = analysis.phase_velocity(Z, threshold=[0.01, 5.0])
    assert m_k[..., 0].all() and not m_k[..., 1].any()
    with pytest.raises(ValueError):
        analysis.phase_velocity(Z, threshold=[1.0, 2.0, 3.0])


def ar1(rng, coef, n_seq=400, T=50, K=3):
    x = np.empty((n_seq, T, K))
    x[:, 0] = rng.standard_normal((n_seq, K)) / np.sqrt(1 - coef**2)
    for t in range(1, T):
        x[:, t] = coef * x[:, t - 1] + rng.standard_normal((n_seq, K))
    return x


@pytest.mark.parametrize("coef", [0.9, 0.5, 0.0, -0.6])
def test_lag1_autocorrelation_of_ar1(coef):
    rng = np.random.default_rng(2)
    x = ar1(rng, coef) + 5.0  # an offset that the mean removal takes out
    r = analysis.lag1_autocorrelation(x)
    assert r.shape == (3,)
    np.testing.assert_allclose(r, coef, atol=0.02)
    # the time axis can be elsewhere
    r0 = analysis.lag1_autocorrelation(np.moveaxis(x, 1, 0), axis=0)
    np.testing.assert_allclose(r0, r, rtol=1e-12)


def test_lag1_autocorrelation_constant_units_are_nan():
    rng = np.random.default_rng(3)
    x = ar1(rng, 0.7, n_seq=50, K=3)
    x[..., 1] = 3.3    # constant (float roundoff of its mean must not count as variance)
    x[..., 2] = 0.0    # never active
    r = analysis.lag1_autocorrelation(x.astype(np.float32))
    assert np.isfinite(r[0]) and np.isnan(r[1]) and np.isnan(r[2])
    with pytest.raises(ValueError):
        analysis.lag1_autocorrelation(x + 1j)


def test_change_decomposition_is_exact():
    rng = np.random.default_rng(4)
    Z = rng.standard_normal((5, 8, 4)) + 1j * rng.standard_normal((5, 8, 4))
    Z[0, 3, 1] = 0
    radial, tangential = analysis.change_decomposition(Z)
    dz2 = np.abs(np.diff(Z, axis=1)) ** 2
    np.testing.assert_allclose(radial**2 + tangential**2, dz2, rtol=1e-10)
    # small steps: radial ≈ Δa, tangential ≈ ā Δφ
    z0 = 2.0 * np.exp(1j * 0.4)
    z1 = 2.01 * np.exp(1j * 0.41)
    r, t = analysis.change_decomposition(np.array([z0, z1]).reshape(1, 2, 1))
    assert abs(r.item() - 0.01) < 1e-5 and abs(t.item() - 2.005 * 0.01) < 1e-5


def test_factorization_stats_phase_moving_codes():
    """Constant-in-time amplitude (different per sequence), rotating phase."""
    rng = np.random.default_rng(5)
    n_seq, T, K = 30, 32, 5
    amp = np.broadcast_to(rng.uniform(0.5, 2.0, (n_seq, 1, K)), (n_seq, T, K))
    Z, _ = drifting_codes(rng, n_seq, T, K, rates=rng.uniform(0.8, 1.5, K), amp=amp)
    C = rng.standard_normal((n_seq, T, 2 * K))  # an unpersistent "real code"
    s = analysis.factorization_stats(Z, C)
    assert s["persistence_amplitude"] > 0.99
    assert s["persistence_real"] < 0.75 and s["persistence_imag"] < 0.75
    assert abs(s["persistence_real_sc_abs"]) < 0.1 and abs(s["persistence_real_sc_signed"]) < 0.1
    assert s["phase_share"] > 0.999 and s["amplitude_share"] < 1e-3
    assert s["phase_share"] + s["amplitude_share"] == pytest.approx(1.0)
    assert s["n_units_amplitude"] == K and s["active_fraction"] == 1.0


def test_factorization_stats_amplitude_moving_codes():
    """Fixed phase, amplitude varying over time."""
    rng = np.random.default_rng(6)
    n_seq, T, K = 30, 32, 5
    amp = np.abs(ar1(rng, 0.5, n_seq, T, K)) + 0.1
    Z = amp * np.exp(1j * rng.uniform(-np.pi, np.pi, (n_seq, 1, K)))
    s = analysis.factorization_stats(Z)
    assert s["amplitude_share"] > 0.999 and s["phase_share"] < 1e-3
    assert "persistence_real_sc_abs" not in s
    # amplitude with no variance at all → NaN units excluded, not NaN medians
    Zc = np.exp(1j * (0.3 * np.arange(T)))[None, :, None] * np.ones((n_seq, 1, K))
    s2 = analysis.factorization_stats(Zc)
    assert s2["n_units_amplitude"] == 0 and np.isnan(s2["persistence_amplitude"])
    assert s2["n_units_real"] == K and np.isfinite(s2["persistence_real"])


def test_bad_codes():
    with pytest.raises(ValueError):
        analysis.factorization_stats(np.ones((3, 4), complex))
    with pytest.raises(ValueError):
        analysis.phase_velocity(np.ones((3, 1, 2), complex))
    with pytest.raises(ValueError):
        analysis.factorization_stats(np.ones((3, 4, 2), complex), np.ones((3, 5, 2)))


def test_real_sparse_codes_small():
    rng = np.random.default_rng(7)
    X = rng.standard_normal((6, 5, 12))
    C, D = analysis.real_sparse_codes(X, 8, 0.5, n_iter=3, batch_size=10,
                                      return_dictionary=True)
    assert C.shape == (6, 5, 8) and D.shape == (8, 12)
    assert 0 < np.mean(C != 0) < 1


def _one_line_error(capsys, code):
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "error" in err, (code, err)
    return err


def test_factorization_tool_bad_input(tmp_path, capsys):
    bad = tmp_path / "model.npz"
    bad.write_bytes(b"not a model")
    _one_line_error(capsys, factorization.main([str(bad)]))


def test_factorization_tool_bad_option(capsys):
    err = _one_line_error(capsys, factorization.main(["x.npz", "--n-sequences", "many"]))
    assert "--n-sequences" in err
    _one_line_error(capsys, factorization.main(["x.npz", "--n-iter", "0"]))


@pytest.mark.slow
def test_factorization_tool_end_to_end_on_a_tiny_run(tmp_path, capsys):
    write_frame_folder(tmp_path / "videos" / "grating",
                       drifting_grating(24, 24, wavelength=6.0, speed=1.0))
    cfg = TrainConfig(video_dir=str(tmp_path / "videos"), out=str(tmp_path / "run"),
                      patch_size=6, n_frames=4, n_components=4, batch_size=4, n_updates=5,
                      max_iter=5, whiten_patches=500, seed=1)
    train(cfg, progress=False)
    model = str(tmp_path / "run" / "model.npz")
    # the run's videos moved: a clear error, then --video-dir points to them
    err = _one_line_error(capsys, factorization.main([model, "--video-dir",
                                                      str(tmp_path / "gone")]))
    assert "gone" in err
    (tmp_path / "run" / "config.json").rename(tmp_path / "config.json")
    assert "config.json" in _one_line_error(capsys, factorization.main([model]))
    (tmp_path / "config.json").rename(tmp_path / "run" / "config.json")
    out_json = tmp_path / "stats.json"
    rc = factorization.main([model, "--n-sequences", "10", "--fit-sequences", "10",
                             "--n-iter", "1", "--json", str(out_json)])
    assert rc == 0
    table = capsys.readouterr().out
    assert "lag-1 autocorrelation of amplitude" in table and "phase (tangential)" in table
    st = json.loads(out_json.read_text())["stats"]
    assert st["phase_share"] + st["amplitude_share"] == pytest.approx(1.0)
