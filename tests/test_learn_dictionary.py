"""From videos to a model: the clip cache and sampler, the command line, checkpoints and resume."""
import json
import logging
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from conftest import TINY, assert_one_line_error, write_video_failing_at

import csc
from csc.cli import learn, second_layer
from csc.run_folder import RunError
from csc.second_layer import on_fraction_threshold, second_layer_codes
from csc.testing.movies import (
    drifting_grating,
    pink_noise,
    transformed_movie,
    write_frame_folder,
    write_video,
)
from csc.training.clips import build_cache
from csc.training.config import TrainConfig
from csc.training.run import OUTPUTS, run_sequences, train
from csc.video.reader import VideoError
from csc.video.sampling import MB, build_clip_cache, sample_sequences

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "learn_dictionary.py"



def _pan(rng, n_frames=24, size=32, shift=(0.0, 1.0)):
    return transformed_movie(pink_noise((96, 96), rng), n_frames, size, shift=shift)


@pytest.fixture(scope="module")
def big_video_dir(tmp_path_factory):
    """Three panning textures of 96 frames of 64×64 pixels (.mp4): 4.5 MB of float32 frames, 18
    clips of 16 frames (256 KB each) at n_frames 4."""
    root = tmp_path_factory.mktemp("big_videos")
    rng = np.random.default_rng(2)
    for name in ("a.mp4", "b.mp4", "c.mp4"):
        write_video(root / name, _pan(rng, n_frames=96, size=64), fps=25)
    return root


def _run_script(*args, cwd=None):
    """scripts/learn_dictionary.py in a fresh interpreter, importing this checkout's csc."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True,
                          text=True, env=env, timeout=300, cwd=cwd)


# --------------------------------------------------------------------------- cache and sampler
def test_sequences_never_span_a_scene_cut(tmp_path):
    """A dark panning texture cut to a bright drifting grating in one frame folder: every sampled
    sequence lies inside one of the two scenes."""
    rng = np.random.default_rng(1)
    dark = 0.1 + 0.3 * _pan(rng, 12)
    bright = 0.55 + 0.4 * drifting_grating(12, 32, wavelength=6.0, speed=1.0)
    write_frame_folder(tmp_path / "two_scenes", np.concatenate([dark, bright]))
    cache = build_clip_cache(tmp_path, n_frames=5, patch_size=8, seed=0)
    assert len(cache.clips) == 2
    seqs = sample_sequences(cache, 200, 5, 8, np.random.default_rng(0))
    means = seqs.mean(axis=(2, 3))  # (200, 5)
    assert np.all((means.max(axis=1) < 0.45) | (means.min(axis=1) > 0.45))
    assert np.any(means.max(axis=1) < 0.45) and np.any(means.min(axis=1) > 0.45)


def test_sampler_is_reproducible_and_memory_bounded(video_dir):
    cache = build_clip_cache(video_dir, n_frames=4, patch_size=6, cache_frames=16, clip_len=8,
                             seed=3)
    assert cache.n_frames <= 16
    a = sample_sequences(cache, 10, 4, 6, np.random.default_rng(7))
    b = sample_sequences(cache, 10, 4, 6, np.random.default_rng(7))
    assert a.shape == (10, 4, 6, 6) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    again = build_clip_cache(video_dir, n_frames=4, patch_size=6, cache_frames=16, clip_len=8,
                             seed=3)
    assert all(np.array_equal(x, y) for x, y in zip(cache.clips, again.clips))


@pytest.mark.slow
def test_cache_keeps_a_random_sample_within_its_byte_budget(big_video_dir):
    """cache_bytes bounds what is held, during the read too (the budget plus a few clips), where
    the frame bound alone would hold every clip; sequences are drawn as before."""
    frames_only = build_clip_cache(big_video_dir, n_frames=4, patch_size=6, cache_bytes=None)
    assert len(frames_only.clips) == 18 and frames_only.nbytes == 18 * 256 * 1024
    clip_bytes = frames_only.clips[0].nbytes
    tracemalloc.start()
    try:
        cache = build_clip_cache(big_video_dir, n_frames=4, patch_size=6, cache_bytes=MB)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert cache.nbytes <= MB and len(cache.clips) == 4
    assert cache.stats["dropped_for_bytes"] > 0 and frames_only.stats["dropped_for_bytes"] == 0
    assert peak < MB + 6 * clip_bytes < frames_only.nbytes
    assert all(any(c is f or np.array_equal(c, f) for f in frames_only.clips) for c in cache.clips)
    seqs = sample_sequences(cache, 50, 4, 6, np.random.default_rng(0))
    assert seqs.shape == (50, 4, 6, 6) and np.all((seqs >= 0) & (seqs <= 1))
    again = build_clip_cache(big_video_dir, n_frames=4, patch_size=6, cache_bytes=MB)
    assert all(np.array_equal(x, y) for x, y in zip(cache.clips, again.clips))
    one = build_clip_cache(big_video_dir, n_frames=4, patch_size=6, cache_bytes=1000)
    assert len(one.clips) == 1  # a budget below one clip still keeps one


@pytest.mark.slow
def test_a_byte_budget_never_reached_changes_nothing(big_video_dir):
    """With the frame bound binding (3 of 18 clips kept), a budget that is never exceeded gives
    the frame-only cache: the same clips in the same order, so earlier runs reproduce."""
    def cache(cache_bytes, seed):
        return build_clip_cache(big_video_dir, n_frames=4, patch_size=6, cache_frames=48,
                                cache_bytes=cache_bytes, seed=seed)

    for seed in range(4):
        frames_only, budget = cache(None, seed), cache(3 * 256 * 1024, seed)
        assert len(frames_only.clips) == len(budget.clips) == 3
        assert all(np.array_equal(x, y) for x, y in zip(frames_only.clips, budget.clips))
        assert budget.stats == frames_only.stats
    smaller = cache(2 * 256 * 1024, 0)
    assert len(smaller.clips) == 2 and smaller.stats["dropped_for_bytes"] == 1


def test_cache_errors_name_the_problem(tmp_path, video_dir):
    with pytest.raises(VideoError, match="smaller than the patch"):
        build_clip_cache(video_dir, n_frames=4, patch_size=64)
    with pytest.raises(VideoError, match="frames long"):
        build_clip_cache(video_dir, n_frames=100, patch_size=6)
    write_frame_folder(tmp_path / "flat", np.full((10, 16, 16), 0.5))
    with pytest.raises(VideoError, match="constant"):
        build_clip_cache(tmp_path / "flat", n_frames=4, patch_size=6)


# --------------------------------------------------------------------------- command line
def test_end_to_end_run_writes_every_output(tmp_path, video_dir):
    """Through the scripts/ wrapper, as the README's first command runs it, with a relative
    --out: the last line names the folder and every file in it, and config.json stores it
    absolute."""
    out = tmp_path / "run"
    res = _run_script(video_dir, "--out", "run", *TINY, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    wrote = res.stdout.strip().splitlines()[-1]
    assert wrote.startswith(f"wrote {out}: ")
    files = sorted(name for name in os.listdir(out) if not name.startswith("."))  # not .lock
    assert sorted(wrote.split(": ", 1)[1].split(", ")) == files
    for name in files:
        assert (out / name).stat().st_size > 0, name
    assert json.loads((out / "config.json").read_text())["out"] == str(out)
    model = csc.load(out / "model.npz")
    assert isinstance(model, csc.PixelModel) and model.patch_size == 6
    P = np.random.default_rng(0).random((2, 4, 6, 6)).astype(np.float32)
    Z = model.encode_patches(P)
    assert Z.shape == (2, 4, 4) and Z.dtype == np.complex64
    assert model.decode_patches(Z).shape == P.shape
    B = model.bases_pixels()
    assert B.shape == (4, 6, 6) and np.iscomplexobj(B)
    cfg = TrainConfig.from_json(out / "config.json")
    assert cfg.patch_size == 6 and cfg.n_updates == 3 and cfg.video_dir == str(video_dir)


def test_bad_inputs_end_with_one_clear_line(tmp_path, video_dir, run):
    out = tmp_path / "out"
    assert_one_line_error(run(tmp_path / "missing", "--out", out, *TINY), "no such")
    (tmp_path / "empty").mkdir()
    assert_one_line_error(run(tmp_path / "empty", "--out", out, *TINY), "no video")
    (tmp_path / "corrupt").mkdir()
    (tmp_path / "corrupt" / "bad.mp4").write_bytes(b"\x00not a video" * 100)
    assert_one_line_error(run(tmp_path / "corrupt", "--out", out, *TINY), "bad.mp4")
    assert_one_line_error(run(video_dir, "--out", out, *TINY, "--patch-size", "64"),
                           "smaller than the patch")
    assert_one_line_error(run(video_dir, "--out", out, *TINY, "--n-frames", "500"),
                           "--n-frames")
    write_frame_folder(tmp_path / "flat", np.full((10, 16, 16), 0.5))
    assert_one_line_error(run(tmp_path / "flat", "--out", out, *TINY), "constant")
    assert_one_line_error(run(video_dir, "--out", out, *TINY, "--lam", "-1"), "lam")
    assert_one_line_error(run(video_dir, "--out", out, *TINY, "--sparsity", "l0"),
                           "--sparsity")
    assert_one_line_error(run(video_dir, *TINY), "--out")


def test_corrupt_file_beside_a_good_one_is_skipped_with_a_warning(tmp_path, video_dir, run):
    root = tmp_path / "mixed"
    root.mkdir()
    (root / "pan.mp4").write_bytes((video_dir / "pan.mp4").read_bytes())
    (root / "broken.avi").write_bytes(b"garbage" * 50)
    out = tmp_path / "run"
    res = run(root, "--out", out, *TINY)
    assert res.returncode == 0, res.stderr
    assert "broken.avi" in (out / "train.log").read_text()


@pytest.mark.faults
def test_video_failing_partway_gives_its_frames_and_a_warning(tmp_path, video_dir, run):
    """A video that decodes 60 frames and then hits corrupt data, beside a good one: the cache
    keeps those frames and the run goes on, with a warning naming the file and the frame."""
    root = tmp_path / "mixed"
    root.mkdir()
    broken = write_video_failing_at(root / "broken.avi", 60, 80)
    skipped = []
    cache = build_clip_cache(root, n_frames=4, patch_size=6, on_skip=lambda s, m: skipped.append(m))
    [message] = skipped
    n_kept = int(message.split(" frames kept")[0].rsplit("(", 1)[1])
    assert 0 < n_kept < 80 and f"{broken} from frame {n_kept}" in message
    assert cache.n_frames == n_kept and cache.stats["videos"] == 1

    (root / "pan.mp4").write_bytes((video_dir / "pan.mp4").read_bytes())
    out = tmp_path / "run"
    res = run(root, "--out", out, *TINY)
    assert res.returncode == 0, res.stderr
    log = (out / "train.log").read_text()
    assert f"WARNING skipped the rest of {broken} from frame {n_kept} ({n_kept} frames kept): " \
           f"cannot read video {broken}" in log
    both = build_clip_cache(root, n_frames=4, patch_size=6)  # what the run read: both videos
    assert both.stats["videos"] == 2 and both.n_frames > n_kept


@pytest.mark.slow
def test_cache_mb_bounds_the_run_cache_with_the_synthetic_camera(tmp_path, big_video_dir, run):
    """--cache-mb 1 holds video and camera clips within 1 MB (the camera within its share) where
    --cache-frames alone would hold 4.5 MB of video; the log states the budget; runs saved before
    --cache-mb get the default; a bad value is one line."""
    out = tmp_path / "run"
    res = run(big_video_dir, "--out", out, *TINY, "--cache-mb", "1", "--camera-share", "0.3")
    assert res.returncode == 0, res.stderr
    assert "budget for video (--cache-mb 1 in all)" in (out / "train.log").read_text()
    cfg = TrainConfig.from_json(out / "config.json")
    assert cfg.cache_mb == 1
    cache = build_cache(cfg)
    n_camera = cache.stats["camera_clips"]
    assert cache.nbytes <= MB and n_camera == 2 and len(cache.clips) - n_camera == 3
    assert sum(c.nbytes for c in cache.clips[-n_camera:]) <= 0.3 * MB
    assert cache.stats["dropped_for_bytes"] > 0
    cfg.camera_share = 0.8
    cache = build_cache(cfg)
    assert cache.nbytes <= MB and len(cache.clips) - cache.stats["camera_clips"] >= 1
    seqs = sample_sequences(cache, 20, 4, 6, np.random.default_rng(0))
    assert seqs.shape == (20, 4, 6, 6)

    saved = json.loads((out / "config.json").read_text())
    del saved["cache_mb"]
    (tmp_path / "old.json").write_text(json.dumps(saved))
    assert TrainConfig.from_json(tmp_path / "old.json").cache_mb == 1024
    assert_one_line_error(run(big_video_dir, "--out", tmp_path / "bad", *TINY, "--cache-mb", "0"),
                           "--cache-mb must be a positive integer")


@pytest.mark.slow
def test_existing_run_is_not_overwritten_and_bad_model_file_is_refused(tmp_path, video_dir,
                                                                        run):
    out = tmp_path / "run"
    assert run(video_dir, "--out", out, *TINY).returncode == 0
    before = (out / "model.npz").read_bytes()
    assert_one_line_error(run(video_dir, "--out", out, *TINY), "--resume", "--force")
    assert (out / "model.npz").read_bytes() == before
    assert run(video_dir, "--out", out, *TINY, "--force").returncode == 0
    (out / "model.npz").write_bytes(b"junk")
    assert_one_line_error(run("--out", out, "--resume", "--quiet"), "not a csc model")
    assert_one_line_error(run("--out", tmp_path / "none", "--resume"), "nothing to resume")


@pytest.mark.slow
def test_force_with_bad_settings_leaves_the_previous_run_intact(tmp_path, video_dir, run):
    """--force deletes the previous run only once every setting, the videos included, has been
    checked: each bad invocation below fails and leaves every output byte for byte."""
    out = tmp_path / "run"
    assert run(video_dir, "--out", out, *TINY).returncode == 0
    before = {name: (out / name).read_bytes() for name in OUTPUTS}
    (tmp_path / "corrupt").mkdir()
    (tmp_path / "corrupt" / "bad.mp4").write_bytes(b"\x00not a video" * 100)
    bad = [
        ([video_dir, *TINY, "--lam", "-1"], "lam"),  # a setting
        ([video_dir, *TINY, "--n-updates", "0"], "--n-updates"),
        ([video_dir, *TINY, "--whitening", "zca"], "--whitening"),  # an option argparse refuses
        ([tmp_path / "missing", *TINY], "no such"),  # the video folder
        ([tmp_path / "corrupt", *TINY], "bad.mp4"),  # its videos
        ([video_dir, *TINY, "--patch-size", "64"], "smaller than the patch"),  # the clip cache
    ]
    for args, fragment in bad:
        assert_one_line_error(run(*args, "--out", out, "--force"), fragment)
        assert {name: (out / name).read_bytes() for name in OUTPUTS} == before, fragment
    res = run(video_dir, "--out", out, *TINY, "--seed", "1", "--force")
    assert res.returncode == 0, res.stderr
    assert (out / "model.npz").read_bytes() != before["model.npz"]


# --------------------------------------------------------------------------- checkpoint / resume
class Crash(Exception):
    pass


@pytest.mark.faults
def test_interrupted_then_resumed_run_equals_an_uninterrupted_one(tmp_path, video_dir):
    def config(out):
        return TrainConfig(video_dir=str(video_dir), out=str(out), patch_size=6, n_frames=4,
                           n_components=4, batch_size=4, n_updates=10, max_iter=5,
                           whiten_patches=500, checkpoint_every=3, seed=5)

    level = logging.getLogger("csc").level
    full = train(config(tmp_path / "full"), progress=False)
    assert logging.getLogger("csc").level == level  # the run's INFO logging is undone
    assert "learning done" in (tmp_path / "full" / "train.log").read_text()

    def crash_after_7(done):
        if done == 7:
            raise Crash

    with pytest.raises(Crash):
        train(config(tmp_path / "cut"), progress=False, on_update=crash_after_7)
    assert csc.load(tmp_path / "cut" / "model.npz").coder.n_updates_ == 6  # last checkpoint
    resumed = train(config(tmp_path / "cut"), resume=True, progress=False)
    assert resumed.coder.n_updates_ == 10
    np.testing.assert_array_equal(resumed.components_, full.components_)
    assert resumed.coder.history_ == full.coder.history_
    assert logging.getLogger("csc").level == level  # after a crash too


# --------------------------------------------------------------------------- second layer
@pytest.mark.slow
def test_second_layer_is_learned_stored_and_loaded(tmp_path, video_dir, run, capsys):
    out = tmp_path / "run"
    assert run(video_dir, "--out", out, *TINY, "--n-frames", "6").returncode == 0
    capsys.readouterr()
    code = second_layer.main([str(out / "model.npz"), "--n-motion", "2", "--n-form", "2",
                              "--n-sequences", "8", "--n-updates", "3"])
    assert code == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "translation detectors" in printed and "spread over stimuli" in printed
    model = csc.load(out / "model.npz")
    assert model.motion_units.components_.shape == (4, 2)
    assert model.form_units.components_.shape == (4, 2)
    stats = model.form_units.feature_stats_  # the log-amplitude normalisation travels along
    assert stats["mean"].shape == (4,) and stats["scale"].shape == (4,)
    # the paper's settings: codes under the Gaussian prior with quadratic slowness (the authors'
    # slow_gauss, κ 0.5, whatever the first layer's), log-amplitude variance 0.1, centred
    assert model.second_layer_prior == {"sparsity": "gauss", "lam": 8.0, "slowness": "l2",
                                        "kappa": 0.5}
    # the authors' threshold: a quarter of the training codes' amplitudes exceed it
    _, P = run_sequences(out / "model.npz", 8, 0, sprite_share=1.0)
    Z = second_layer_codes(model, P)
    assert model.motion_units.threshold == pytest.approx(on_fraction_threshold(Z, 0.25))
    for units in (model.motion_units, model.form_units):
        assert units.step == "adaptive-unit" and units.init == "data"
    assert model.form_units.log_variance == 0.1 and stats["center_units"]
    tuning = json.loads((out / "tuning.json").read_text())
    assert {"learned", "random", "units"} <= set(tuning)
    figures = json.loads((out / "second_layer.json").read_text())
    for part in ("motion", "form"):  # measured next to random columns
        assert figures[part]["learned"]["n_units"] == figures[part]["random"]["n_units"] == 2
    assert (out / "form_inputs.png").stat().st_size > 0
    assert (out / "motion_tuning.png").stat().st_size > 0
    assert (out / "motion_units.png").stat().st_size > 0
    assert (out / "form_units.png").stat().st_size > 0
    # the first layer can still be resumed from the same file
    assert run("--out", out, "--resume", "--n-updates", "4", "--quiet").returncode == 0
    assert csc.load(out / "model.npz").coder.n_updates_ == 4


def test_second_layer_refuses_a_bad_threshold(capsys):
    assert second_layer.main(["x.npz", "--threshold", "fast"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--threshold" in err and "'fast'" in err


@pytest.mark.slow
def test_cauchy_alone_and_the_paper_preset_run_from_the_command_line(tmp_path, video_dir, run):
    """`--sparsity cauchy` alone takes the paper's constants (λ 10, σ 0.4, l2 slowness, κ 0.5);
    `--preset paper` sets every setting of the paper, and options given beside it win."""
    res = run(video_dir, "--out", tmp_path / "cauchy", "--sparsity", "cauchy", *TINY)
    assert res.returncode == 0, res.stderr
    cfg = TrainConfig.from_json(tmp_path / "cauchy" / "config.json")
    assert (cfg.sparsity, cfg.lam, cfg.sigma, cfg.slowness, cfg.kappa) == (
        "cauchy", 10.0, 0.4, "l2", 0.5)
    assert (cfg.learning, cfg.init) == ("online", "data")  # the rest stays at the defaults
    res = run(video_dir, "--out", tmp_path / "paper", "--preset", "paper", "--lam", "5", *TINY)
    assert res.returncode == 0, res.stderr
    cfg = TrainConfig.from_json(tmp_path / "paper" / "config.json")
    assert (cfg.sparsity, cfg.lam, cfg.slowness, cfg.kappa, cfg.learning, cfg.init,
            cfg.weighting, cfg.noise_variance, cfg.inference) == (
        "cauchy", 5.0, "l2", 0.5, "sgd", "random", "paper", 0.01, "paper")
    assert cfg.max_iter == 5  # TINY's --max-iter wins over the preset's 15
    model = csc.load(tmp_path / "paper" / "model.npz")
    assert model.coder.init == "random" and model.coder.learning == "sgd"
    assert model.coder.inference == "paper" and model.coder.max_iter == 5
    assert learn.parse_args(["--out", "x", "--preset", "paper"]).max_iter == 15  # the authors' cap
    assert model.whitener.weighting == "paper"
    log = (tmp_path / "paper" / "train.log").read_text()
    assert "quadrature pairs" in log and "localisation" in log  # the units, at each checkpoint
    res = run(video_dir, "--out", tmp_path / "bad", "--preset", "papers", *TINY)
    assert_one_line_error(res, "--preset")
    res = run(video_dir, "--out", tmp_path / "bad", "--sparsity", "cauchy", "--slowness", "l1",
              *TINY)
    assert_one_line_error(res, "cauchy")


def test_gauss_alone_takes_the_papers_slow_gauss_constants():
    """`--sparsity gauss` alone: λ = β 8, l2 slowness κ 0.5 (the authors' slow_gauss); options
    given beside it win, and TV slowness is refused when the run is configured."""
    args = learn.parse_args(["--out", "x", "--sparsity", "gauss"])
    assert (args.sparsity, args.lam, args.slowness, args.kappa) == ("gauss", 8.0, "l2", 0.5)
    args = learn.parse_args(["--out", "x", "--sparsity", "gauss", "--lam", "2", "--slowness", "l1"])
    assert (args.lam, args.slowness) == (2.0, "l1")
    with pytest.raises(RunError, match="gauss"):
        learn.config_from_args(args).validate()


def test_synthetic_camera_joins_the_videos_at_its_share(tmp_path, video_dir):
    """The camera's clips are added beside the real clips and weighted so that `camera_share` of
    the sequences come from them; a share of 1 (camera alone) is refused."""
    from csc.video.sampling import sample_positions

    cfg = TrainConfig(video_dir=str(video_dir), out=str(tmp_path / "run"), patch_size=6,
                      n_frames=4, camera_share=0.3, cache_frames=400)
    cache = build_cache(cfg)
    n_camera = cache.stats["camera_clips"]
    n_real = len(cache.clips) - n_camera
    assert n_real >= 2 and n_camera == round(0.3 * 400 / 8)
    assert all(c.shape == (8, 64, 64) for c in cache.clips[n_real:])
    pos = sample_positions(cache, 20000, 4, 6, np.random.default_rng(0))
    assert np.mean(pos[:, 0] >= n_real) == pytest.approx(0.3, abs=0.015)
    cfg.camera_share = 1.0
    with pytest.raises(ValueError, match="never alone"):
        cfg.validate()


def test_cli_refuses_the_camera_alone_and_bad_stills(tmp_path, video_dir, run):
    res = run(video_dir, "--out", tmp_path / "a", "--camera-share", "1", *TINY)
    assert_one_line_error(res, "--camera-share")
    empty = tmp_path / "empty"
    empty.mkdir()
    res = run(video_dir, "--out", tmp_path / "b", "--stills", empty, *TINY)
    assert_one_line_error(res, str(empty))


@pytest.mark.slow
def test_analyze_reports_the_papers_measures_on_held_out_video_and_stills(tmp_path, video_dir,
                                                                         run, capsys):
    import imageio.v3 as iio

    from csc.cli import analyze

    res = run(video_dir, "--out", tmp_path / "run", *TINY)
    assert res.returncode == 0, res.stderr
    stills = tmp_path / "stills"
    stills.mkdir()
    iio.imwrite(stills / "noise.png",
                (255 * pink_noise((96, 96), np.random.default_rng(3))).astype(np.uint8))
    capsys.readouterr()
    code = analyze.main([str(tmp_path / "run" / "model.npz"), "--video-dir", str(video_dir),
                         "--stills", str(stills), "--n-sequences", "8",
                         "--json", str(tmp_path / "m.json")])
    out = capsys.readouterr().out
    assert code == 0
    for row in ("quadrature pairs, whitened space", "localisation, median, pixels space",
                "variance explained, held-out video",
                "persistence gain, held-out stills, synthetic camera"):
        assert row in out, out
    import json
    saved = json.loads((tmp_path / "m.json").read_text())
    assert set(saved["heldout"]) == {"video", "camera"}
    assert 0 <= saved["paper"]["learned whitened"]["quadrature"] <= 1
    assert analyze.main([str(tmp_path / "run" / "model.npz"), "--stills",
                         str(tmp_path / "nothing")]) == 2
