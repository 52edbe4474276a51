"""Transfer trials from real motion (csc.analysis.real_trials): the pixel velocity measure
against known shifts, pairs drawn only where two places move alike, and the csc-transfer --real
option end to end."""
import json

import imageio.v3 as iio
import numpy as np
import pytest

from csc.analysis import real_trials
from csc.cli import transfer as transfer_demo
from csc.testing.movies import pink_noise, transformed_movie

P = 16


@pytest.mark.parametrize("v", [(0.0, 0.0), (0.3, -0.2), (0.9, 0.6), (-1.5, 0.4)])
def test_lucas_kanade_recovers_known_shifts(v):
    rng = np.random.default_rng(0)
    movies = np.stack([transformed_movie(pink_noise((64, 64), rng), 2, P, shift=v)
                       for _ in range(6)])
    V = real_trials.lucas_kanade(movies[:, 0], movies[:, 1])
    assert np.abs(V - np.array(v)).max() < 0.1  # measured at most 0.05 px/frame


def _two_halves(n_frames=10, seed=1):
    """A 48 × 96 clip: the left half pans by (0.6, 0.3) px/frame, the right half stands still."""
    rng = np.random.default_rng(seed)
    left = transformed_movie(pink_noise((128, 128), rng), n_frames, 48, shift=(0.6, 0.3))
    right = transformed_movie(pink_noise((128, 128), rng), n_frames, 48, shift=(0.0, 0.0))
    return np.concatenate([left, right], axis=2).astype(np.float32)


def test_pairs_come_from_the_moving_half_only():
    clip = _two_halves()
    trials = real_trials.draw_real_trials(clip, 5, 6, P, seed=0)
    assert 1 <= len(trials) <= 5
    for t in trials:
        assert t.source_corner != t.target_corner
        assert t.source_corner[1] + P <= 48 and t.target_corner[1] + P <= 48  # the panning half
        np.testing.assert_allclose(t.parameters["shift"], (0.6, 0.3), atol=0.1)
        r, c = t.target_corner
        np.testing.assert_array_equal(t.truth, clip[t.frame:t.frame + 6, r:r + P, c:c + P])


def test_a_still_clip_gives_no_trials():
    clip = np.repeat(pink_noise((48, 96), np.random.default_rng(0))[None], 8, axis=0)
    with pytest.raises(ValueError, match="move the same way"):
        real_trials.draw_real_trials(clip, 3, 6, P)


def test_csc_transfer_real_option(tmp_path, capsys):
    video = tmp_path / "pan"  # a folder of numbered PNG frames: no codec blurs the motion
    video.mkdir()
    for i, frame in enumerate(np.clip(_two_halves(12), 0, 1)):
        iio.imwrite(video / f"{i:03d}.png", (frame * 255).round().astype(np.uint8))
    out = tmp_path / "out"
    code = transfer_demo.main(["--model", "planted", "--real", str(video), "--n-trials", "2",
                               "--n-frames", "6", "--method", "translation", "warp",
                               "--transform", "translation", "--out", str(out), "--quiet"])
    assert code == 0
    real = json.loads((out / "scores.json").read_text())["real"]
    assert 1 <= real["n_trials"] <= 2
    assert {"static", "pixel_shift", "oracle", "translation", "warp"} <= set(real["mean"])
    assert "edges_px" in real["by_displacement"]
    assert "real motion:" in capsys.readouterr().out
    assert (out / "transfer_real-translation_warp.gif").exists()


def test_csc_transfer_real_missing(tmp_path, capsys):
    code = transfer_demo.main(["--model", "planted", "--real", str(tmp_path / "none.avi"),
                               "--out", str(tmp_path / "o")])
    assert code == 2 and "--real" in capsys.readouterr().err
