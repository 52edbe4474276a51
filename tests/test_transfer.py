"""Transform transfer (csc.analysis.transfer): sign convention, velocity estimates, prediction vs
baseline; the csc-transfer demo's input checks.

The model is planted, not learned: a PCA whitener fitted on 1/f noise patches (so natural-like
images come out white, as in a learned model) and a dictionary of complex Gabor quadrature pairs
(2 wavelengths × 8 orientations × 3 × 3 positions) drawn in whitened pixel space.
"""
import copy

import numpy as np
import pytest

from csc.analysis import transfer
from csc.cli import transfer as transfer_demo
from csc.testing.movies import drifting_grating, pink_noise, transformed_movie
from csc.testing.planted import gabor_bank, planted_gabor_model

P = 16


@pytest.fixture(scope="module")
def model():
    return planted_gabor_model()


@pytest.fixture(scope="module")
def noise_image():
    return pink_noise((128, 128), np.random.default_rng(1))


def test_sign_convention_single_gabor():
    """ω = FFT peak of the complex basis; a shift by v turns the best code's phase by +⟨ω, v⟩."""
    B, omegas = gabor_bank(wavelengths=(6,), n_orient=4, centres=(7.5,))
    omega, quality = transfer.unit_frequencies(B)
    np.testing.assert_allclose(omega, omegas, atol=0.03)  # measured 0.016 rad/px
    assert (quality > 0.997).all()  # measured ≥ 0.9984
    rng = np.random.default_rng(3)
    movie = transformed_movie(pink_noise((96, 96), rng), 2, P, shift=(0.6, -0.3))
    # least-squares code of one unit under x̂ = Re(conj(z) B) = Re(z) R + Im(z) I: z = Σ B x
    z = np.einsum("kij,tij->tk", B, movie - movie.mean())
    dphi = np.angle(z[1] * np.conj(z[0]))
    predicted = omegas @ np.array([0.6, -0.3])
    strong = np.abs(z[0]) > np.median(np.abs(z[0])) * 0.5
    assert np.mean(np.sign(dphi[strong]) == np.sign(predicted[strong])) >= 0.75  # 4 units, 1.0
    # measured 0.990 with this seed (0.88 to 0.99 with seeds 3 to 6)
    assert np.corrcoef(dphi, predicted)[0, 1] > 0.98


def test_unit_frequencies_of_model_match_planted(model):
    omega, quality = transfer.unit_frequencies(model)
    _, planted = gabor_bank()
    # a frequency and its negative are the same unit up to conjugation: compare up to sign
    err = np.minimum(np.linalg.norm(omega - planted, axis=1),
                     np.linalg.norm(omega + planted, axis=1))
    assert np.median(err) < 0.035  # measured 0.017 rad/px (largest 0.026)
    signed = np.linalg.norm(omega - planted, axis=1) < 0.3
    assert signed.all()  # the sign is kept, not folded
    assert np.median(quality) > 0.99  # measured 0.9947


def test_phase_changes_of_one_sequence():
    """δ = wrapped phase difference; weights a_t a_{t+1} where both amplitudes exceed threshold ×
    the sequence's largest amplitude (one threshold for all units)."""
    rng = np.random.default_rng(4)
    a = rng.uniform(0.5, 2.0, (6, 3))
    a[:, 2] = 0.05                      # a weak unit: below 0.05 × max(a) ≈ 0.1 everywhere
    a[3, 0] = 0.0
    phi = np.cumsum(rng.uniform(-3.0, 3.0, (6, 3)), axis=0)
    delta, weight = transfer.phase_changes((a * np.exp(1j * phi))[None], threshold=0.05)
    step = np.diff(phi, axis=0)
    step[2:4, 0] = 0                    # pairs (2, 3) and (3, 4) touch a zero code: δ = 0
    np.testing.assert_allclose(np.exp(1j * delta), np.exp(1j * step), atol=1e-12)
    assert np.all((delta > -np.pi) & (delta <= np.pi))
    want = a[1:] * a[:-1]
    want[:, 2] = 0
    want[2:4, 0] = 0
    np.testing.assert_allclose(weight, want, atol=1e-12)


@pytest.mark.parametrize("velocity", [(0.7, -0.4), (1.0, 0.0), (-1.5, 1.0)])
def test_translation_estimate_noise(model, noise_image, velocity):
    movie = transformed_movie(noise_image, 6, P, shift=velocity)
    V = transfer.estimate_translation(model, model.encode_patches(movie[None]))
    assert V.shape == (5, 2)
    # measured on this image (pink noise, seed 1), worst over the 3 velocities: 0.075 px/frame for
    # the mean, 0.19 for single frames (other seeds, 1 to 10: up to 0.24 and 0.35)
    np.testing.assert_allclose(V.mean(0), velocity, atol=0.15)
    assert np.abs(V - velocity).max() < 0.3


def test_translation_estimate_natural(model):
    skimage = pytest.importorskip("skimage")  # noqa: F841
    from csc.testing.movies import natural_still

    movie = transformed_movie(natural_still("astronaut", 160), 6, P, shift=(-0.5, 0.8))
    V = transfer.estimate_translation(model, model.encode_patches(movie[None]))
    np.testing.assert_allclose(V.mean(0), (-0.5, 0.8), atol=0.2)  # measured 0.18 px/frame


def test_translation_estimate_grating_normal_component(model):
    """A grating fixes only the velocity along its normal (the aperture problem)."""
    theta = np.pi / 8
    movie = drifting_grating(6, P, wavelength=8, orientation=theta, speed=1.0)
    V = transfer.estimate_translation(model, model.encode_patches(movie[None]))
    normal = np.array([-np.sin(theta), np.cos(theta)])  # (row, col); rows point down
    np.testing.assert_allclose(V @ normal, 1.0, atol=0.1)  # measured 0.055 px/frame


def test_prediction_beats_static_baseline(model, noise_image):
    """Mean correlation with the true moving target over the predicted frames (t ≥ 1; frame 0 is
    the target itself for the baseline and its reconstruction for the prediction), averaged over
    3 unseen targets × 2 velocities."""
    pred_c, static_c, oracle_c, wrong_c = [], [], [], []
    for seed in (7, 8, 9):
        target_image = pink_noise((128, 128), np.random.default_rng(seed))
        for velocity in [(0.7, -0.4), (0.5, 0.5)]:
            source = transformed_movie(noise_image, 6, P, shift=velocity)
            truth = transformed_movie(target_image, 6, P, shift=velocity)
            pred = transfer.predict(model, source, truth[0])
            assert pred.shape == truth.shape and pred.dtype == np.float32
            pred_c.append(transfer.scores(pred, truth)["correlation"][1:])
            static = transfer.static_baseline(truth[0], 6)
            static_c.append(transfer.scores(static, truth)["correlation"][1:])
            oracle = transfer.oracle(model, truth)
            oracle_c.append(transfer.scores(oracle, truth)["correlation"][1:])
            # the opposite motion (source played backwards): the sign matters
            wrong = transfer.predict(model, source[::-1].copy(), truth[0])
            wrong_c.append(transfer.scores(wrong, truth)["correlation"][1:])
    pred_c, static_c, oracle_c, wrong_c = map(np.mean, (pred_c, static_c, oracle_c, wrong_c))
    assert pred_c > static_c + 0.1
    assert oracle_c > pred_c
    assert wrong_c < static_c


@pytest.mark.parametrize("method", ["self-correlation", "operator", "warp"])
def test_displacement_methods_beat_static_and_know_the_sign(model, noise_image, method):
    """The methods that carry the target by the source's summed velocity: better than the
    static frame, and far worse when the source plays backwards. Measured (frames 1-5): static
    0.471; self-correlation 0.611 (backwards 0.262), operator 0.678 (0.275), warp 0.876 (0.48)."""
    target_image = pink_noise((128, 128), np.random.default_rng(7))
    source = transformed_movie(noise_image, 6, P, shift=(0.7, -0.4))
    truth = transformed_movie(target_image, 6, P, shift=(0.7, -0.4))

    def corr(movie):
        return np.mean(transfer.scores(movie, truth)["correlation"][1:])

    static = corr(transfer.static_baseline(truth[0], 6))
    pred = transfer.predict(model, source, truth[0], method=method)
    assert pred.shape == truth.shape and pred.dtype == np.float32
    assert corr(pred) > static + 0.1
    wrong = transfer.predict(model, source[::-1].copy(), truth[0], method=method)
    assert corr(wrong) < corr(pred) - 0.3


def test_shifted_codes_move_a_unit_onto_its_neighbour(model):
    """Planted Gabors sit 4 px apart: shifted by 4 px, unit 0 (centre (3.5, 3.5)) becomes unit 1
    (centre (3.5, 7.5)), same frequency, same phase; unit 4 (centre (7.5, 7.5)) shifted 4 px
    down becomes unit 7 (centre (11.5, 7.5)), keeping its phase i. No shift: the identity."""
    K = model.components_.shape[0]
    Z = np.zeros((2, K), complex)
    Z[0, 0], Z[1, 4] = 1, 1j
    out = transfer.shifted_codes(model, Z, np.array([[0.0, 4.0], [4.0, 0.0]]))
    assert abs(out[0, 1] - 1) < 0.15 and abs(out[1, 7] - 1j) < 0.2  # measured 0.085, 0.15
    others = np.abs(out.copy())
    others[0, 1] = others[1, 7] = 0
    assert others.max() < 0.2  # measured 0.16
    np.testing.assert_allclose(transfer.shifted_codes(model, Z, np.zeros((2, 2))), Z, atol=1e-10)


def test_pixel_shift_is_the_translated_target_for_whole_pixels(noise_image):
    truth = transformed_movie(noise_image, 4, P, shift=(1.0, -2.0))
    D = np.arange(4)[:, None] * np.array([1.0, -2.0])
    moved = transfer.pixel_shift(truth[0], D)
    # inside the part of the patch that frame 0 saw, a whole-pixel shift is exact
    np.testing.assert_allclose(moved[3, 3:, :10], truth[3, 3:, :10], atol=1e-5)


@pytest.mark.parametrize("method", ["motion", "motion-joint"])
def test_motion_method_with_planted_translation_units(model, noise_image, method):
    """Motion units spanning {ω_row, ω_col} reproduce the translation method, inferred after
    the codes or jointly with them (codes under the paper's Gaussian prior)."""
    from csc import second_layer
    omega, _ = transfer.unit_frequencies(model)
    mu = second_layer.MotionUnits(2)
    mu._reset_state()
    mu.components_ = omega / np.linalg.norm(omega, axis=0)
    velocity = (0.7, -0.4)
    source = transformed_movie(noise_image, 6, P, shift=velocity)
    target = transformed_movie(pink_noise((128, 128), np.random.default_rng(7)), 6, P,
                               shift=velocity)
    model = copy.copy(model)
    model.second_layer_prior = second_layer.PAPER_CODE_PRIOR
    pred = transfer.predict(model, source, target[0], method=method, motion_units=mu)
    static = transfer.scores(transfer.static_baseline(target[0], 6), target)["mean_correlation"]
    assert transfer.scores(pred, target)["mean_correlation"] > static + 0.05


def test_scores_and_references(model):
    truth = np.random.default_rng(0).random((4, P, P)).astype(np.float32)
    s = transfer.scores(truth, truth)
    np.testing.assert_allclose(s["correlation"], 1.0)
    assert min(s["snr_db"]) > 100
    noisy = truth + 0.1 * np.random.default_rng(1).standard_normal(truth.shape)
    s = transfer.scores(noisy, truth)
    expected = 10 * np.log10(truth.var(axis=(1, 2)) / 0.01).mean()
    np.testing.assert_allclose(s["mean_snr_db"], expected, atol=0.2)  # measured 0.11 dB
    assert transfer.static_baseline(truth[0], 5).shape == (5, P, P)
    assert transfer.oracle(model, truth).shape == truth.shape
    assert transfer.phase_oracle(model, truth).shape == truth.shape


def test_bad_input(model):
    good = np.zeros((4, P, P), np.float32)
    with pytest.raises(ValueError, match="source"):
        transfer.predict(model, good[:1], good[0])
    with pytest.raises(ValueError, match="target"):
        transfer.predict(model, good, good[0, :8])
    with pytest.raises(ValueError, match="method"):
        transfer.predict(model, good, good[0], method="teleport")
    with pytest.raises(ValueError, match="motion units"):
        transfer.predict(model, good + 0.5, good[0] + 0.5, method="motion")
    with pytest.raises(ValueError):
        transfer.scores(good, good[:2])


@pytest.mark.parametrize("args", [["--method", "teleport"], ["--transform", "shear"],
                                  ["--speed", "2", "1", "--source", "heldout", "--target",
                                   "heldout"],
                                  ["--model", "no/such/model.npz"], ["--n-frames", "1"],
                                  ["--zoom", "two"], []])
def test_demo_bad_input(tmp_path, capsys, args):
    out = [] if not args else ["--out", str(tmp_path / "out")]
    assert transfer_demo.main([*out, *args]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "error" in lines[0]
    assert (args[0] if args else "--out") in lines[0]
