"""Next-frame prediction (csc.analysis.prediction, prediction_trials, csc-predict): predictions
of known translations against holding the frame, the self-correlation against a direct sum,
the references against their definitions, shot cuts planted in a clip, input checks.

The model is the planted one of tests/test_transfer.py (Gabor quadrature pairs in whitened
space); the movies are 1/f noise translated by a known velocity.
"""
import json

import numpy as np
import pytest

from csc.analysis import prediction, prediction_trials
from csc.cli import predict as predict_cli
from csc.testing.movies import pink_noise, transformed_movie, write_video
from csc.testing.planted import planted_gabor_model

P = 16
V = (0.3, -0.4)  # px/frame


@pytest.fixture(scope="module")
def model():
    return planted_gabor_model()


@pytest.fixture(scope="module")
def movies():
    """8 sequences of 6 frames of 1/f noise translating by V: (inputs (8, 4), future (8, 2))."""
    rng = np.random.default_rng(0)
    S = np.stack([transformed_movie(pink_noise((96, 96), rng), 6, P, shift=V)
                  for _ in range(8)]).astype(np.float32)
    return S[:, :4], S[:, 4:]


def _ratio(pred, future, inputs):
    copy = ((prediction.copy_last(inputs, future.shape[1]) - future) ** 2).sum()
    return float(((pred - future) ** 2).sum() / copy)


# measured: translation 0.589, local 0.598, self-correlation 0.587, warp 0.182 (holding the
# frame: 1). The planted units represent part of the noise only (static reconstruction 2.6), and
# the part they miss is carried unmoved.
@pytest.mark.parametrize("method,limit", [("translation", 0.7), ("local", 0.7), ("warp", 0.3),
                                          ("self-correlation", 0.7)])
def test_known_translation_beats_holding_the_frame(model, movies, method, limit):
    inputs, future = movies
    pred = model.predict_frames(inputs, 2, method)
    assert pred.shape == future.shape and pred.dtype == np.float32
    assert _ratio(pred, future, inputs) < limit


def test_each_unit_own_step_is_worse_than_a_fitted_velocity(model, movies):
    """The phase of every unit extrapolated alone: noisier than one velocity for all."""
    inputs, future = movies
    phase = _ratio(model.predict_frames(inputs, 1, "phase"), future[:, :1], inputs)
    translation = _ratio(model.predict_frames(inputs, 1, "translation"), future[:, :1], inputs)
    assert translation < phase


def test_auto_is_the_documented_method(model, movies):
    inputs, _ = movies
    np.testing.assert_array_equal(model.predict_frames(inputs, 1),
                                  model.predict_frames(inputs, 1, prediction.AUTO_METHOD))


def test_self_correlation_matches_a_direct_sum(model):
    """c_k(d) for integer shifts against ⟨B_k, B_k shifted by d⟩ / ‖B_k‖² summed directly."""
    from csc.analysis.first_layer import whitened_bases
    B = np.asarray(whitened_bases(model, "whitened"), np.complex128)
    D = np.array([[0, 0], [1, 0], [0, -2], [3, 1]], float)
    c = prediction.self_correlation(model, D)
    for i, (dr, dc) in enumerate(D.astype(int)):
        padded = np.pad(B, ((0, 0), (4, 4), (4, 4)))
        moved = np.roll(padded, (dr, dc), axis=(1, 2))
        direct = (np.conj(padded) * moved).sum((1, 2)) / (np.abs(B) ** 2).sum((1, 2))
        np.testing.assert_allclose(c[i], direct, atol=1e-10)
    np.testing.assert_allclose(c[0], 1.0)
    assert (np.abs(c[1:]) < 1).all()


def test_references_follow_their_definitions(model, movies):
    inputs, future = movies
    np.testing.assert_array_equal(prediction.copy_last(inputs, 2)[:, 1], inputs[:, -1])
    lin = prediction.linear_extrapolation(inputs, 2)
    np.testing.assert_allclose(lin[:, 1], 3 * inputs[:, -1] - 2 * inputs[:, -2], atol=1e-6)
    static = prediction.static_reconstruction(model, inputs, 2)
    np.testing.assert_array_equal(static[:, 0], static[:, 1])
    # the true future phases carry the motion: better than holding the frame
    assert _ratio(prediction.true_phases(model, inputs, future), future, inputs) < 0.8  # 0.646


def test_keep_residual_adds_the_last_frames_residual(model, movies):
    inputs, _ = movies
    kept = model.predict_frames(inputs, 1, "translation")
    dropped = model.predict_frames(inputs, 1, "translation", keep_residual=False)
    residual = inputs[:, -1] - prediction.static_reconstruction(model, inputs, 1)[:, 0]
    np.testing.assert_allclose(kept[:, 0] - dropped[:, 0], residual, atol=1e-5)


@pytest.mark.parametrize("P_bad,n_ahead,method,message", [
    (np.zeros((2, 4, 8, 8)), 1, "auto", "patch sequences"),
    (np.zeros((2, 1, 16, 16)), 1, "auto", "at least 2 frames"),
    (np.full((1, 3, 16, 16), np.nan), 1, "auto", "NaN"),
    (np.zeros((1, 3, 16, 16)), 0, "auto", "n_ahead"),
    (np.zeros((1, 3, 16, 16)), 1, "psychic", "unknown method"),
    (np.zeros((1, 3, 16, 16)), 1, "motion", "motion units"),
])
def test_bad_input_is_refused(model, P_bad, n_ahead, method, message):
    with pytest.raises(ValueError, match=message):
        model.predict_frames(P_bad, n_ahead, method)


def test_shot_cuts_and_sequences_avoid_them():
    rng = np.random.default_rng(2)
    a, b = pink_noise((64, 64), rng), pink_noise((64, 64), rng)
    # two shots of 12 frames panning 0.2 px/frame: mean |change| 0.021-0.027 within, 0.158 at
    # the cut
    clip = np.concatenate([transformed_movie(a, 12, 48, shift=(0.2, 0.2)),
                           transformed_movie(b, 12, 48, shift=(0.2, 0.2))])
    cut = prediction_trials.shot_cuts(clip)
    assert np.flatnonzero(cut).tolist() == [11]
    inputs, future = prediction_trials.draw_sequences(clip, 30, 3, 2, P, min_std=0.0,
                                                      min_change=0.0, seed=1)
    whole = np.concatenate([inputs, future], 1)
    # a sequence across the cut would join two independent textures (correlation ~0); within a
    # shot, consecutive frames of the pan stay alike
    flat = whole.reshape(len(whole), 5, -1)
    corr = [np.corrcoef(s[t], s[t + 1])[0, 1] for s in flat for t in range(4)]
    assert min(corr) > 0.5
    assert len(whole) == 30


def test_draw_sequences_refuses_a_still_clip():
    still = np.full((10, 32, 32), 0.5, np.float32)
    with pytest.raises(ValueError, match="moves"):
        prediction_trials.draw_sequences(still, 5, 3, 1, P)


def test_csc_predict_writes_scores_and_figures(tmp_path, model):
    rng = np.random.default_rng(4)
    movie = transformed_movie(pink_noise((128, 128), rng), 12, 64, shift=(0.7, 0.2))
    video = write_video(tmp_path / "pan.avi", np.clip(movie, 0, 1), fps=25)
    model_path = tmp_path / "model.npz"
    model.save(model_path)
    out = tmp_path / "out"
    rc = predict_cli.main([str(video), "--model", str(model_path), "--out", str(out),
                           "--n-sequences", "12", "--n-ahead", "2",
                           "--method", "translation", "warp"])
    assert rc == 0
    result = json.loads((out / "predict.json").read_text())
    ratios = result["clips"]["pan"]["error_ratio"]
    assert set(ratios) == {"copy", "static", "linear", "true phases", "translation", "warp"}
    assert len(ratios["warp"]) == 2 and ratios["copy"] == [1.0, 1.0]
    # a pan, compressed: both beat holding the frame (measured warp 0.70, translation 0.78)
    assert ratios["warp"][0] < 0.9 and ratios["translation"][0] < 0.9
    assert (out / "predict.png").stat().st_size > 0 and (out / "predict_pan.gif").exists()


@pytest.mark.parametrize("argv,message", [
    (["/no/such.avi"], "no such video"),
    (["--n-frames", "1"], "--n-frames must be >= 2"),
    (["--min-change", "-1"], "--min-change must be >= 0"),
])
def test_csc_predict_bad_input_one_line(tmp_path, capsys, argv, message):
    assert predict_cli.main([*argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err


def test_csc_predict_constant_video(tmp_path, capsys):
    video = write_video(tmp_path / "grey.avi", np.full((10, 32, 32), 0.5), fps=25)
    assert predict_cli.main([str(video), "--out", str(tmp_path / "o")]) == 2
    assert "moves" in capsys.readouterr().err
