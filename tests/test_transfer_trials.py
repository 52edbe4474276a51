"""Transform transfer on natural video (csc.analysis.transfer_trials) and csc-transfer's
--source/--target mode.

The video is written here: 1/f noise drifting behind a static frame, 12 frames of 112 × 208
(room for two non-overlapping 64 × 64 regions with a 16-pixel border along the columns). The
model is the planted Gabor dictionary (csc.testing.planted)."""
import json

import numpy as np
import pytest

from csc.analysis import transfer
from csc.analysis import transfer_trials as tt
from csc.cli import transfer as transfer_demo
from csc.testing.movies import pink_noise, write_video
from csc.testing.planted import planted_gabor_model
from csc.video.camera import transformed_movie
from csc.video.reader import VideoError

P = 16
R = tt.REGION_PATCHES * P


@pytest.fixture(scope="module")
def model():
    return planted_gabor_model()


@pytest.fixture(scope="module")
def video_file(tmp_path_factory):
    image = pink_noise((160, 256), np.random.default_rng(5))
    frames = np.stack([image[t:t + 112, 2 * t:2 * t + 208] for t in range(12)])
    return write_video(tmp_path_factory.mktemp("video") / "noise.avi", frames, fps=10)


@pytest.fixture(scope="module")
def video(video_file):
    return tt.load_video(video_file, P, seed=0)


def test_load_video(video, video_file):
    assert video.frames.shape == (12, 112, 208) and video.frames.dtype == np.float32
    assert video.n_frames == 12 and list(video.index) == list(range(12))
    assert 0.02 < video.typical_std < 0.5
    small = tt.load_video(video_file, P, keep=5, seed=1)  # a bounded random sample
    assert len(small.frames) == 5 and np.all(np.diff(small.index) > 0)
    np.testing.assert_array_equal(small.frames, video.frames[small.index])


def _describe(trials):
    return [t.describe() for t in trials]


@pytest.mark.parametrize("kind", tt.TRANSFORMS)
def test_trials_deterministic_and_in_range(video, kind):
    a = tt.draw_trials(video, video, kind, 6, seed=3)
    b = tt.draw_trials(video, video, kind, 6, seed=3)
    assert _describe(a) == _describe(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.target_region, y.target_region)
    assert _describe(tt.draw_trials(video, video, kind, 6, seed=4)) != _describe(a)
    for t in a:
        if kind == "translation":
            assert 0.5 <= np.hypot(*t.parameters["shift"]) <= 1.5
        elif kind == "rotation":
            assert 2 <= abs(np.rad2deg(t.parameters["rotation"])) <= 5
        else:
            assert 0.02 <= abs(np.log(t.parameters["zoom"])) <= 0.05


def test_speed_range_is_respected(video):
    trials = tt.draw_trials(video, video, "translation", 5, seed=2, speed=(0.25, 0.25))
    np.testing.assert_allclose([np.hypot(*t.parameters["shift"]) for t in trials], 0.25)


def test_movies_are_transformed_regions(video):
    """Source and truth: the same transformed_movie of the regions cut at the recorded frame and
    corner; frame 0 is the region's central patch; both have contrast."""
    for kind in tt.TRANSFORMS:
        for t in tt.draw_trials(video, video, kind, 3, seed=0):
            source, truth = t.movies(8, P)
            for frame, (r, c), movie in ((t.source_frame, t.source_corner, source),
                                         (t.target_frame, t.target_corner, truth)):
                region = video.frames[frame, r:r + R, c:c + R]
                expected = transformed_movie(region, 8, P, order=3, **t.parameters)
                np.testing.assert_array_equal(movie, expected)
                np.testing.assert_array_equal(movie[0], region[24:40, 24:40])
                assert movie[0].std() >= 0.5 * video.typical_std


def test_same_video_regions_differ(video, video_file):
    other = tt.load_video(video_file, P, seed=0)  # another object, the same file
    assert tt.same_video(video, other)
    for kind in tt.TRANSFORMS:
        for t in tt.draw_trials(video, other, kind, 10, seed=1):
            assert t.source_frame != t.target_frame
            dr, dc = np.abs(np.subtract(t.source_corner, t.target_corner))
            assert dr >= R or dc >= R  # no pixel position shared


def test_scores_are_transfer_scores(model, video):
    trials = tt.draw_trials(video, video, "translation", 2, seed=0)
    ts = tt.run_trials(model, trials, 6, ("translation",))
    for i, t in enumerate(trials):
        source, truth = t.movies(6, P)
        refs = {"static": transfer.static_baseline(truth[0], 6),
                "oracle": transfer.oracle(model, truth),
                "phase_oracle": transfer.phase_oracle(model, truth),
                "translation": transfer.predict(model, source, truth[0])}
        for name, movie in refs.items():
            s = transfer.scores(movie, truth)
            np.testing.assert_allclose(ts.correlation[name][i], s["correlation"], rtol=1e-6)
            np.testing.assert_allclose(ts.snr_db[name][i], s["snr_db"], rtol=1e-6)
    per = ts.per_trial("translation")
    np.testing.assert_allclose(per, ts.correlation["translation"][:, 1:].mean(1))
    assert ts.mean("translation") == pytest.approx(per.mean())
    assert ts.beats_static("translation") == int((per > ts.per_trial("static")).sum())


def test_by_displacement_bins_frames_by_their_total_shift():
    """Speed 1 px/frame: frame t has moved t px; frame 0 never counts."""
    trial = tt.Trial("translation", {"shift": (0.6, 0.8)}, 0, (0, 0), np.zeros((4, 4)), 1,
                     (0, 0), np.zeros((4, 4)))
    corr = np.array([[1.0, 0.9, 0.8, 0.7, 0.6], [1.0, 0.5, 0.4, 0.3, 0.2]])
    ts = tt.TrialScores("translation", [trial, trial], {"x": corr}, {"x": corr})
    bins = ts.by_displacement("x", [0, 1, 2, 4, 10])
    assert bins[0] is None  # only frame 0 has moved less than 1 px
    assert bins[1] == pytest.approx(0.7)  # frames at 1 px: 0.9, 0.5
    assert bins[2] == pytest.approx((0.8 + 0.7 + 0.4 + 0.3) / 4)
    assert bins[3] == pytest.approx(0.4)


def _bad_videos(folder):
    noise = pink_noise((112, 176), np.random.default_rng(0))
    (folder / "corrupt.avi").write_bytes(b"this is not a video" * 100)
    return {
        "no such file": folder / "missing.avi",
        "cannot read video": folder / "corrupt.avi",
        "too small": write_video(folder / "small.avi", np.stack([noise[:48, :48]] * 4), fps=10),
        "1 frame": write_video(folder / "one.avi", noise[None], fps=10),
        "constant": write_video(folder / "flat.avi", np.full((4, 112, 176), 0.5), fps=10),
    }


@pytest.mark.slow
@pytest.mark.parametrize("problem", ["no such file", "cannot read video", "too small",
                                     "1 frame", "constant"])
def test_cli_bad_video(tmp_path, capsys, problem):
    path = _bad_videos(tmp_path)[problem]
    code = transfer_demo.main(["--model", "planted", "--source", str(path), "--target",
                               str(path), "--out", str(tmp_path / "out"), "--method",
                               "translation"])
    assert code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and problem in lines[0] and "--source" in lines[0]
    if problem != "no such file":
        with pytest.raises(VideoError, match=problem):
            tt.load_video(path, P)


@pytest.mark.parametrize("args", [["--source", "heldout"], ["--target", "heldout"],
                                  ["--source", "heldout", "--target", "heldout",
                                   "--n-trials", "0"]])
def test_cli_bad_options(tmp_path, capsys, args):
    assert transfer_demo.main(["--out", str(tmp_path), *args]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and ("--target" in lines[0] or "--n-trials" in lines[0])


def test_cli_video_trials(tmp_path, capsys, video_file):
    out = tmp_path / "out"
    code = transfer_demo.main(["--model", "planted", "--source", str(video_file), "--target",
                               str(video_file), "--method", "translation", "--n-trials", "2",
                               "--n-frames", "4", "--out", str(out), "--quiet"])
    assert code == 0
    scores = json.loads((out / "scores.json").read_text())
    assert scores["same_video"] and scores["n_trials"] == 2
    for kind in tt.TRANSFORMS:
        entry = scores["transforms"][kind]
        assert len(entry["trials"]) == 2
        assert np.shape(entry["per_frame"]["oracle"]["correlation"]) == (2, 4)
        assert len(entry["per_trial"]["translation"]["correlation"]) == 2
        assert entry["mean"]["static"]["correlation"] == pytest.approx(
            np.mean(entry["per_trial"]["static"]["correlation"]))
        assert 0 <= entry["beats_static"]["translation"] <= 2
        assert (out / f"transfer_{kind}_translation.gif").stat().st_size > 0
    table = capsys.readouterr().out
    # three rows of the main table, and the displacement table's header
    assert "beats static (trials)" in table and table.count("| translation |") == 4
    assert "total displacement" in table
    by_disp = scores["transforms"]["translation"]["by_displacement"]
    assert set(by_disp) == {"edges_px", "static", "pixel_shift", "phase_oracle", "oracle",
                            "translation"}
    assert "pixel_shift" not in scores["transforms"]["rotation"]["mean"]
    assert capsys.readouterr().err == ""  # --quiet: no progress


def test_cli_video_trials_show_progress_unless_quiet(tmp_path, capfd, video_file):
    """A long run is not silent: a bar per transform counts its trials on stderr."""
    code = transfer_demo.main(["--model", "planted", "--source", str(video_file), "--target",
                               str(video_file), "--method", "translation", "--n-trials", "2",
                               "--n-frames", "4", "--transform", "translation", "--out",
                               str(tmp_path / "out")])
    assert code == 0
    err = capfd.readouterr().err
    assert "translation trials" in err and "2/2" in err
