"""Whole videos encoded chunk by chunk (csc.encode_video), their Zarr stores
(csc.video.code_writer, code_reader) and the csc-encode-video tool: codes against patches cut by
hand, the same codes on any scheduler, stores read back, resumption after kill -9, refusals."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dask
import numpy as np
import pytest
import zarr
from conftest import (
    TINY_PATCH,
    assert_one_line_error,
    command_env,
    dask_programs,
    write_video_failing_at,
)

import csc
from csc.cli import encode_video as cli
from csc.cluster import WORKER_ENV
from csc.core import phases
from csc.testing.movies import pink_noise, transformed_movie, write_frame_folder, write_video
from csc.video.code_reader import open_codes
from csc.video.code_writer import write_videos
from csc.video.encode_video import prepare_encoding
from csc.video.grid import PatchGrid
from csc.video.reader import VideoError, iter_frames

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "encode_video.py"
P = TINY_PATCH


def _movie(n_frames=22, height=24, width=36, seed=1):
    image = pink_noise((96, 96), np.random.default_rng(seed))
    return transformed_movie(image, n_frames, 64, shift=(0.5, -0.8))[:, :height, :width]


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    """A 22-frame 24×36 panning texture as an .avi and as a folder of PNG frames."""
    folder = tmp_path_factory.mktemp("videos")
    movie = _movie()
    return {"avi": write_video(folder / "pan.avi", movie),
            "frames": write_frame_folder(folder / "pan_frames", movie)}


def _by_hand(model, frames, stride, t0, t1, **kw):
    """Codes of frames [t0, t1) on the grid, from patches cut with explicit loops:
    complex64 (t1 − t0, rows, cols, K)."""
    H, W = frames.shape[1:]
    ys, xs = range(0, H - P + 1, stride), range(0, W - P + 1, stride)
    patches = np.stack([frames[t0:t1, y:y + P, x:x + P] for y in ys for x in xs])
    Z = model.encode_patches(patches, **kw)
    return Z.reshape(len(ys), len(xs), t1 - t0, -1).transpose(2, 0, 1, 3)


@pytest.mark.parametrize("kind", ["avi", "frames"])
def test_codes_equal_encode_patches_on_patches_cut_by_hand(model_file, videos, kind):
    model, _ = model_file
    stride, chunk = 5, 8
    codes = csc.encode_video(model, videos[kind], stride=stride, chunk_frames=chunk)
    assert codes.dtype == np.complex64 and codes.chunks[0] == (8, 8, 6)
    Z = codes.compute(scheduler="sync")
    frames = np.stack(list(iter_frames(videos[kind])))
    assert Z.shape == (22, 4, 6, 6)  # rows (24 − 8) // 5 + 1, cols (36 − 8) // 5 + 1
    for t0 in range(0, 22, chunk):  # each chunk is its own solve: no slowness across the edge
        t1 = min(t0 + chunk, 22)
        np.testing.assert_array_equal(Z[t0:t1], _by_hand(model, frames, stride, t0, t1))
    # the chunk edge matters: one solve over frames 0..15 gives other codes at frames 7 and 8
    assert not np.allclose(_by_hand(model, frames, stride, 0, 16)[7:9], Z[7:9], atol=1e-3)
    # settings reach the solve; default stride is half the patch; downsample and max_frames
    Z2 = csc.encode_video(model, videos[kind], chunk_frames=22, max_iter=3, tol=0.0,
                          downsample=1, max_frames=10).compute()
    np.testing.assert_array_equal(Z2, _by_hand(model, frames, 4, 0, 10, max_iter=3, tol=0.0))
    # a chunk longer than the video is capped at it (the store's arrays are chunked by it: a
    # billion frames used to be allocated for a 22-frame video)
    assert prepare_encoding(model, videos[kind], chunk_frames=10**9).chunk_frames == 22
    huge = csc.encode_video(model, videos[kind], chunk_frames=10**9, max_iter=3, tol=0.0,
                            max_frames=10)
    np.testing.assert_array_equal(huge.compute(), Z2)


def test_a_causal_start_is_the_chunk_solve_from_the_streams_codes(model_file, videos,
                                                                  tmp_path):
    """start="causal": each chunk is solved from the codes `csc.stream` gives its frames
    (10 iterations a frame, run from 8 frames before the chunk), which leaves less of the
    energy to go after a few iterations than starting from zero; the store records the start
    and refuses another."""
    from csc.video.encode_video import CAUSAL_LEAD_FRAMES, CAUSAL_START_ITERS
    from csc.video.stream import stream

    model, path = model_file
    frames = np.stack(list(iter_frames(videos["avi"])))
    kw = dict(stride=4, chunk_frames=11, max_iter=5, tol=0.0)
    Z = csc.encode_video(model, videos["avi"], start="causal", **kw).compute()
    grid = PatchGrid(24, 36, P, 4)
    energies = {}
    for t0 in (0, 11):
        chunk = frames[t0:t0 + 11]
        lead = min(t0, CAUSAL_LEAD_FRAMES)
        causal = np.stack([f.codes for f in stream(model, frames[t0 - lead:t0 + 11], stride=4,
                                                   max_iter=CAUSAL_START_ITERS)])[lead:]
        init = grid.to_sequences(causal)
        ref = grid.from_sequences(model.encode_patches(grid.cut(chunk), max_iter=5, tol=0.0,
                                                       init=init))
        np.testing.assert_array_equal(Z[t0:t0 + 11], ref)
        X = model.whitener.transform(grid.cut(chunk))
        prior = model.coder.prior().as_dict()
        cold = grid.to_sequences(_by_hand(model, frames, 4, t0, t0 + 11, max_iter=5, tol=0.0))
        energies[t0] = [csc.energy(X, z, model.components_, **prior)["total"]
                        for z in (grid.to_sequences(Z[t0:t0 + 11]), cold)]
    assert all(warm < cold for warm, cold in energies.values()), energies
    # the store records the start (absent for zeros, as stores written before it) and a rerun
    # with another start is refused
    store = tmp_path / "c.zarr"
    write_videos(model, [videos["avi"]], store, start="causal", **kw)
    assert open_codes(store, "pan").attrs["settings"]["start"] == "causal"
    with pytest.raises(ValueError, match="start"):
        write_videos(model, [videos["avi"]], store, **kw)
    write_videos(model, [videos["avi"]], tmp_path / "z.zarr", **kw)
    assert "start" not in open_codes(tmp_path / "z.zarr", "pan").attrs["settings"]
    with pytest.raises(ValueError, match="unknown start 'warm'"):
        csc.encode_video(model, videos["avi"], start="warm")
    res = _cli(path, videos["avi"], "--stride", "4", "--chunk-frames", "11", "--max-iter", "5",
               "--tol", "0", "--start", "causal", "--quiet", "--out", tmp_path / "cli.zarr")
    assert res.returncode == 0, res.stderr
    np.testing.assert_array_equal(open_codes(tmp_path / "cli.zarr", "pan").amplitude.compute(),
                                  np.abs(Z))


def test_the_causal_pass_alone_is_the_streams_codes_chunk_by_chunk(model_file, videos,
                                                                     tmp_path):
    """start="causal" with max_iter 0: each chunk's codes are those `csc.stream` gives its
    frames, with `causal_iter` iterations a frame, the stream run from `causal_lead` frames
    before the chunk (fewer at the start); with a lead as long as the video's head, the chunks
    join into one stream over the whole video. The store records both and refuses others; the
    options are refused without the causal start."""
    from csc.video.stream import stream

    model, path = model_file
    frames = np.stack(list(iter_frames(videos["avi"])))
    kw = dict(stride=4, chunk_frames=11, max_iter=0, start="causal", causal_iter=3,
              causal_lead=5)
    Z = csc.encode_video(model, videos["avi"], **kw).compute()
    for t0 in (0, 11):
        lead = min(t0, 5)
        ref = [f.codes for f in stream(model, frames[t0 - lead:t0 + 11], stride=4,
                                       max_iter=3)][lead:]
        np.testing.assert_array_equal(Z[t0:t0 + 11], np.stack(ref))
    whole = [f.codes for f in stream(model, frames[:22], stride=4, max_iter=3)]
    joined = csc.encode_video(model, videos["avi"], **{**kw, "causal_lead": 11}).compute()
    np.testing.assert_array_equal(joined[:22], np.stack(whole))
    assert not np.array_equal(Z[11], whole[11])  # a shorter lead: another start at frame 11
    more = csc.encode_video(model, videos["avi"], **{**kw, "causal_iter": 6}).compute()
    assert not np.array_equal(more, Z)
    store = tmp_path / "c.zarr"
    write_videos(model, [videos["avi"]], store, **kw)
    settings = open_codes(store, "pan").attrs["settings"]
    assert (settings["max_iter"], settings["causal_iter"], settings["causal_lead"]) == (0, 3, 5)
    for other in ({"causal_iter": 4}, {"causal_lead": 6}):
        with pytest.raises(ValueError, match=next(iter(other))):
            write_videos(model, [videos["avi"]], store, **{**kw, **other})
    with pytest.raises(ValueError, match="max_iter"):
        csc.encode_video(model, videos["avi"], max_iter=0)
    for other in ({"causal_iter": 3}, {"causal_lead": 0}):
        with pytest.raises(ValueError, match="need start='causal'"):
            csc.encode_video(model, videos["avi"], **other)
    res = _cli(path, videos["avi"], "--stride", "4", "--chunk-frames", "11", "--max-iter", "0",
               "--start", "causal", "--causal-iter", "3", "--causal-lead", "5", "--quiet",
               "--out", tmp_path / "cli.zarr")
    assert res.returncode == 0, res.stderr
    np.testing.assert_array_equal(open_codes(tmp_path / "cli.zarr", "pan").amplitude.compute(),
                                  np.abs(Z))
    for bad, message in ((["--max-iter", "0"], "--max-iter must be a positive integer"),
                         (["--causal-iter", "3"], "they need --start causal"),
                         (["--start", "causal", "--causal-lead", "-1"],
                          "--causal-lead must be a non-negative integer"),
                         (["--start", "causal", "--max-iter", "-1"],
                          "--max-iter must be a non-negative integer with --start causal")):
        res = _cli(path, videos["avi"], *bad, "--out", tmp_path / "bad.zarr")
        assert res.returncode == 2 and message in res.stderr, res.stderr
        assert len(res.stderr.strip().splitlines()) == 1


def test_the_progress_bar_counts_frames_as_chunks_are_written(model_file, videos, tmp_path,
                                                               capfd):
    """The bar is in frames (chunks may differ in length), starts at the frames a resumed
    store already holds, and ends at every frame; its label says what moves it."""
    model, _ = model_file
    store = tmp_path / "p.zarr"
    kw = dict(stride=4, chunk_frames=8, max_iter=2, progress=True)
    write_videos(model, [videos["avi"]], store, max_frames=16, **kw)  # chunks [0, 8), [8, 16)
    err = capfd.readouterr().err
    assert "2 of 2 chunks to solve" in err and "16/16" in err and "frame" in err
    write_videos(model, [videos["avi"]], store, max_frames=16, **kw)  # all written already
    assert "0 of 2 chunks to solve" in capfd.readouterr().err
    done = write_videos(model, [videos["avi"]], tmp_path / "q.zarr", **kw)  # 8 + 8 + 6 frames
    err = capfd.readouterr().err
    assert (done.n_computed, done.frames_computed) == (3, 22)
    assert "3 of 3 chunks to solve" in err and "22/22" in err


def test_grid_layout_round_trips_and_suits_csc_analysis():
    grid = PatchGrid(24, 36, 8, 5)
    assert (grid.rows, grid.cols) == (4, 6)
    np.testing.assert_array_equal(grid.origins()[1], [0, 5, 10, 15, 20, 25])
    z = np.random.default_rng(0).standard_normal((7, 4, 6, 3))
    seq = grid.to_sequences(z)
    assert seq.shape == (24, 7, 3) and np.array_equal(seq[1 * 6 + 2], z[:, 1, 2])
    np.testing.assert_array_equal(grid.from_sequences(seq), z)
    assert PatchGrid.from_attrs(grid.to_attrs()) == grid


@pytest.mark.cluster
def test_same_codes_in_process_and_on_a_two_process_cluster(model_file, videos):
    distributed = pytest.importorskip("distributed")
    model, _ = model_file
    codes = csc.encode_video(model, videos["avi"], stride=4, chunk_frames=6)
    sync = codes.compute(scheduler="sync")
    np.testing.assert_array_equal(codes.compute(scheduler="threads"), sync)
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                  dashboard_address=None, env=WORKER_ENV) as cluster, \
            distributed.Client(cluster) as client:
        workers = sorted(client.scheduler_info()["workers"])
        assert len(workers) == 2
        blocks = codes.to_delayed().ravel().tolist()  # 4 chunks, 2 on each worker
        futures = [client.compute(b, workers=[workers[i % 2]]) for i, b in enumerate(blocks)]
        on_cluster = np.concatenate(client.gather(futures), axis=0)
    np.testing.assert_array_equal(on_cluster, sync)


def _cli(*args):
    """csc-encode-video in this process: (returncode, stdout, stderr) like subprocess.run."""
    import contextlib
    import io
    from types import SimpleNamespace

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main([str(a) for a in args])
    return SimpleNamespace(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())


@pytest.fixture(scope="module")
def store(model_file, videos, tmp_path_factory):
    """A store of the .avi, the frame folder and the .avi again (write_videos): its path."""
    model, path = model_file
    out = tmp_path_factory.mktemp("store") / "c.zarr"
    done = write_videos(model, [videos["avi"], videos["frames"], videos["avi"]], out,
                        model_file=path, stride=4, chunk_frames=8)
    assert (done.n_chunks, done.n_computed, done.frames_computed) == (9, 9, 66)
    return out


def test_store_reads_back_the_computed_codes(model_file, videos, store, tmp_path):
    model, path = model_file
    Z = csc.encode_video(model, videos["avi"], stride=4, chunk_frames=8).compute()
    stored = open_codes(store)
    assert list(stored) == ["pan", "pan_2", "pan_frames"]  # stems, made unique
    vc = stored["pan"]
    assert vc.complete and vc.n_frames == 22 and vc.source == str(videos["avi"].resolve())
    assert (vc.grid.rows, vc.grid.cols, vc.grid.stride) == (5, 8, 4)
    assert vc.attrs["model"]["sha256"] == __import__("hashlib").sha256(
        path.read_bytes()).hexdigest()
    assert vc.attrs["settings"]["chunk_frames"] == 8 and vc.attrs["settings"]["prior"][
        "sparsity"] == "cauchy"
    assert vc.amplitude.chunks[0] == (8, 8, 6) and vc.amplitude.dtype == np.float32
    np.testing.assert_array_equal(vc.amplitude.compute(), phases.amplitude(Z))
    np.testing.assert_array_equal(vc.phase.compute(), phases.phase(Z))
    np.testing.assert_allclose(vc.codes().compute(), Z, atol=2e-6 * np.abs(Z).max())
    # phase velocities: the wrapped phase differences, masked where an amplitude is small
    delta, mask = vc.phase_velocity()
    thr = 0.1 * phases.amplitude(Z).max(axis=(0, 1, 2))
    d = phases.wrap(np.diff(phases.phase(Z).astype(np.float64), axis=0))
    A = phases.amplitude(Z)
    want_mask = (A[1:] > thr) & (A[:-1] > thr)
    np.testing.assert_array_equal(mask.compute(), want_mask)
    err = np.abs(phases.wrap(delta.compute() - d))[want_mask]
    assert want_mask.sum() > 1000 and err.max() < 1e-5  # measured 9.5e-7 (float32 rounding)
    # csc.analysis takes the codes as sequences (rows · cols, T, K)
    seq = vc.sequences(vc.codes())
    assert seq.shape == (40, 22, 6)
    d2, m2 = phases.phase_velocity(seq, thr)
    np.testing.assert_array_equal(m2, vc.sequences(mask))
    assert stored["pan_frames"].complete
    # --codes: the complex codes themselves
    assert _cli(path, videos["avi"], "--out", tmp_path / "z.zarr", "--stride", 4,
                "--chunk-frames", 8, "--codes", "--quiet").returncode == 0
    vz = open_codes(tmp_path / "z.zarr", "pan")
    np.testing.assert_array_equal(vz.codes().compute(), Z)
    np.testing.assert_array_equal(vz.amplitude.compute(), phases.amplitude(Z))


@pytest.mark.parametrize("where, change, match", [
    ("", {"format": "csc-codes-v9"}, "is not a csc code store \\(format 'csc-codes-v9'"),
    ("", {"version": 9}, "written by a newer csc \\(codes version 9"),
    ("", {"version": "one"}, "codes version 'one' is not a version number"),
    ("", {"settings": {"layout": "polar16"}}, "unknown layout 'polar16'"),
    ("", {"settings": None}, "unknown layout None"),
    ("pan", {"grid": None}, "pan: .*lack grid"),
    ("pan", {"settings": {"layout": "polar16"}}, "pan: unknown layout 'polar16'"),
])
def test_open_codes_refuses_stores_it_cannot_read(store, tmp_path, where, change, match):
    """A store of another format, a newer version, an unknown layout or missing attributes is
    refused in one line instead of being read as amplitude and phase."""
    import json
    import shutil

    copy = tmp_path / "copy.zarr"
    shutil.copytree(store, copy)
    meta = copy / where / "zarr.json"
    doc = json.loads(meta.read_text())
    attrs = doc["attributes"]["csc_codes"]
    for key, value in change.items():
        if value is None:
            attrs.pop(key)
        else:
            attrs[key] = value
    meta.write_text(json.dumps(doc))
    with pytest.raises(ValueError, match=match) as info:
        open_codes(copy)
    assert "\n" not in str(info.value) and str(copy) in str(info.value)


def test_open_codes_names_a_damaged_zarr_json(store, tmp_path):
    import shutil

    copy = tmp_path / "copy.zarr"
    shutil.copytree(store, copy)
    (copy / "zarr.json").write_text("{ not json")
    with pytest.raises(ValueError, match="zarr.json of the store cannot be read") as info:
        open_codes(copy)
    assert str(copy) in str(info.value) and "\n" not in str(info.value)


def _damaged_copy(store, tmp_path, damage):
    """A copy of `store` with `damage(copy)` done to it."""
    import shutil

    copy = tmp_path / "copy.zarr"
    shutil.copytree(store, copy)
    damage(copy)
    return copy


def _edit_json(path: Path, edit) -> None:
    import json

    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))


@pytest.mark.parametrize("damage, match", [
    (lambda c: (c / "pan" / "finished" / "c" / "1").write_bytes(b"garbage"),
     "pan: its 'finished' flags cannot be read"),
    (lambda c: __import__("shutil").rmtree(c / "pan" / "finished"),
     "pan: its 'finished' array is missing"),
    (lambda c: _edit_json(c / "pan" / "amplitude" / "zarr.json",
                          lambda d: d.update(shape=[30, 5, 8, 6])),
     r"pan: its 'amplitude' array has shape \(30, 5, 8, 6\), expected \(22, 5, 8, 6\)"),
    (lambda c: (c / "pan" / "phase" / "c" / "1" / "0" / "0" / "0").unlink(),
     r"pan: chunks \[1\] are flagged finished but their data are missing"),
], ids=["garbage flag", "no flags", "shape edited", "chunk deleted"])
def test_damaged_stores_are_refused_in_one_line(store, tmp_path, damage, match):
    copy = _damaged_copy(store, tmp_path, damage)
    with pytest.raises(ValueError, match=match) as info:
        open_codes(copy)
    assert "\n" not in str(info.value)


def test_a_chunk_deleted_from_a_complete_store_is_computed_again(model_file, videos, store,
                                                                 tmp_path):
    """It used to stay NaN in a store called complete ("0 chunks encoded (9 already done)")."""
    model, path = model_file
    copy = _damaged_copy(store, tmp_path,
                         lambda c: (c / "pan" / "phase" / "c" / "1" / "0" / "0" / "0").unlink())
    done = write_videos(model, [videos["avi"], videos["frames"], videos["avi"]], copy,
                        model_file=path, stride=4, chunk_frames=8)
    assert (done.n_chunks, done.n_computed) == (9, 1)
    assert _store_files(copy) == _store_files(store)


def test_a_damaged_flag_stops_a_rerun_in_one_line(model_file, videos, store, tmp_path):
    _, path = model_file
    copy = _damaged_copy(store, tmp_path,
                         lambda c: (c / "pan" / "finished" / "c" / "0").write_bytes(b"x" * 9))
    res = _cli(path, videos["avi"], videos["frames"], videos["avi"], "--out", copy, "--stride",
               4, "--chunk-frames", 8, "--quiet")
    assert_one_line_error(res, "'finished' flags cannot be read")


def test_another_video_at_the_same_path_is_never_mixed_in(model_file, tmp_path):
    """Replaced by another clip of the same frame size and length, a video's store is refused on the
    rerun (it used to resume with "(n already done)" and mix two videos); a chunk task that
    finds another file than the run was planned on writes nothing."""
    from csc.video.code_store import source_stamp
    from csc.video.code_writer import write_chunk
    from csc.video.reader import VideoSource

    _, path = model_file
    video = write_video(tmp_path / "v.avi", _movie(n_frames=16))
    store = tmp_path / "v.zarr"
    args = [path, video, "--out", store, "--stride", 8, "--chunk-frames", 8, "--max-iter", 5,
            "--quiet"]
    assert _cli(*args).returncode == 0
    other = write_video(tmp_path / "other.avi", _movie(n_frames=16)[:, ::-1].copy())
    os.replace(other, video)
    res = _cli(*args)
    assert_one_line_error(res, "source_sha256")
    source = VideoSource(video, "video")
    stamp = source_stamp(source)
    with pytest.raises(ValueError, match="not the file this run was planned on"):
        write_chunk(np.zeros((8, 1, 1, 6), np.complex64), str(store), "v", 0, 0,
                    "amplitude-phase", source, [stamp[0], stamp[1] + 1, stamp[2]])
    with pytest.raises(ValueError, match="another csc"):  # as a worker running another csc
        write_chunk(np.zeros((8, 1, 1, 6), np.complex64), str(store), "v", 0, 0,
                    "amplitude-phase", source, stamp, "0.0.9 0123456789abcdef")
    assert open_codes(store, "v").complete  # nothing was written over it


def test_unit_maps_show_the_stored_amplitudes_and_phase_velocities(store, tmp_path):
    from csc.plotting.code_maps import save_unit_maps_png, unit_maps_figure

    vc = open_codes(store, "pan")
    delta, mask = vc.phase_velocity()
    fig = unit_maps_figure(vc, 2, [3, 9], velocity=(delta, mask))
    images = [[ax.images[0].get_array() for ax in fig.axes[i:i + 2]] for i in (0, 2, 4)]
    np.testing.assert_array_equal(images[0][1], np.stack(list(iter_frames(vc.source)))[9])
    np.testing.assert_array_equal(images[1][0], vc.amplitude[3, :, :, 2].compute())
    shown = images[2][1]  # the phase velocity from frame 8 to 9, masked where inactive
    np.testing.assert_array_equal(shown.mask, ~mask[8, :, :, 2].compute())
    np.testing.assert_array_equal(shown.compressed(),
                                  delta[8, :, :, 2].compute()[mask[8, :, :, 2].compute()])
    save_unit_maps_png(vc, 2, [1, 21], tmp_path / "maps.png")
    assert (tmp_path / "maps.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="times"):
        unit_maps_figure(vc, 2, [0])


def _store_files(store: Path) -> dict[str, bytes]:
    return {str(p.relative_to(store)): p.read_bytes() for p in sorted(store.rglob("*"))
            if p.is_file()}


@pytest.mark.faults
def test_resume_after_kill_9_ends_with_the_uninterrupted_store(model_file, tmp_path):
    _, path = model_file
    video = write_video(tmp_path / "long.avi", _movie(n_frames=40, height=40, width=56))
    # tol 0: every chunk runs all its iterations, so that the run lasts (about 0.3 s a chunk)
    args = [str(path), str(video), "--stride", "4", "--chunk-frames", "4", "--max-iter", "1500",
            "--tol", "0", "--quiet"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    store = tmp_path / "killed.zarr"
    proc = subprocess.Popen([sys.executable, str(SCRIPT), *args, "--out", str(store)], env=env,
                            start_new_session=True, stderr=subprocess.PIPE)
    n_done, deadline = 0, time.monotonic() + 120
    while n_done < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
        try:
            n_done = int(zarr.open_group(store, path="long", mode="r")["finished"][...].sum())
        except Exception:  # noqa: BLE001 -- not created yet
            pass
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read()
    killed = open_codes(store, "long")
    assert 2 <= killed.finished.sum() < 10 and not killed.complete  # stopped midway
    assert np.isnan(killed.amplitude[:, 0, 0, 0].compute()).any()  # unwritten chunks: NaN
    res = subprocess.run([sys.executable, str(SCRIPT), *args, "--out", str(store)], env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    whole = tmp_path / "whole.zarr"
    assert _cli(*args, "--out", whole).returncode == 0
    assert _store_files(store) == _store_files(whole)
    assert not any(p.suffix == ".partial" for p in store.rglob("*"))


@pytest.mark.faults
def test_ctrl_c_ends_with_one_line_and_the_run_resumes(model_file, tmp_path):
    """SIGINT midway: one line on stderr (no KeyboardInterrupt traceback), exit status 130, the
    chunks written so far kept, and the same command then completes the store."""
    _, path = model_file
    video = write_video(tmp_path / "long.avi", _movie(n_frames=40, height=40, width=56))
    args = [str(path), str(video), "--stride", "4", "--chunk-frames", "4", "--max-iter", "1500",
            "--tol", "0", "--quiet", "--out", str(tmp_path / "c.zarr")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen([sys.executable, str(SCRIPT), *args], env=env, text=True,
                            stderr=subprocess.PIPE)
    n_done, deadline = 0, time.monotonic() + 120
    while n_done < 1 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
        try:
            n_done = int(zarr.open_group(tmp_path / "c.zarr", path="long",
                                         mode="r")["finished"][...].sum())
        except Exception:  # noqa: BLE001 -- not created yet
            pass
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert len(err.strip().splitlines()) == 1 and "interrupted" in err, err
    assert 1 <= open_codes(tmp_path / "c.zarr", "long").finished.sum() < 10
    assert _cli(*args).returncode == 0
    assert open_codes(tmp_path / "c.zarr", "long").complete


@pytest.mark.faults
@pytest.mark.cluster
def test_the_scheduler_killed_mid_encoding_is_one_line_and_the_rerun_completes(model_file,
                                                                              tmp_path):
    _, path = model_file
    video = write_video(tmp_path / "long.avi", _movie(n_frames=40, height=40, width=56))
    store = tmp_path / "c.zarr"
    args = [str(path), str(video), "--stride", "4", "--chunk-frames", "4", "--max-iter", "1500",
            "--tol", "0", "--quiet", "--out", str(store)]
    with dask_programs(tmp_path, n_workers=1) as (address, scheduler):
        proc = subprocess.Popen([sys.executable, str(SCRIPT), *args, "--scheduler", address],
                                env=command_env(), text=True, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline and _n_finished(store) < 1:
            time.sleep(0.02)
        scheduler.kill()
        _, err = proc.communicate(timeout=120)
    assert proc.returncode == 2, err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith(f"csc-encode-video: error: the Dask cluster at {address} was lost "
                          f"mid-work ("), err
    assert err.strip().endswith("the work finished so far is kept: run the same command again")
    assert 1 <= _n_finished(store) < 10
    assert _cli(*args).returncode == 0
    assert open_codes(store, "long").complete


@pytest.mark.cluster
def test_a_relative_out_is_the_clients_folder_for_workers_started_elsewhere(model_file, videos,
                                                                           tmp_path):
    """Workers started in another folder (which holds a store of the same name) write the store
    the client's relative --out names."""
    _, path = model_file
    client_dir, worker_dir = tmp_path / "client", tmp_path / "workers"
    client_dir.mkdir()
    worker_dir.mkdir()
    (worker_dir / "rel.zarr").mkdir()  # a decoy of the same name where the workers run
    args = [str(path), str(videos["avi"]), "--stride", "4", "--chunk-frames", "8", "--quiet",
            "--out", "rel.zarr"]
    with dask_programs(tmp_path, n_workers=1, cwd=worker_dir) as (address, _):
        res = subprocess.run([sys.executable, str(SCRIPT), *args, "--scheduler", address],
                             cwd=client_dir, env=command_env(), capture_output=True, text=True,
                             timeout=300)
    assert res.returncode == 0, res.stderr
    assert not any((worker_dir / "rel.zarr").iterdir())
    assert _cli(*args[:-1], tmp_path / "in_process.zarr").returncode == 0
    assert _store_files(client_dir / "rel.zarr") == _store_files(tmp_path / "in_process.zarr")


def _n_finished(store: Path, name: str = "long") -> int:
    try:
        return int(zarr.open_group(store, path=name, mode="r")["finished"][...].sum())
    except Exception:  # noqa: BLE001 -- not created yet, or being written
        return 0


#: Drives csc-encode-video killed at its own file writes, one run after another, each a process
#: forked from this one once csc is imported (a fresh interpreter would spend seconds on each
#: import). argv: WHOLE KILLED ARGS... First a run writes WHOLE uninterrupted and prints how
#: many files it wrote; then run k (k = 1, 2, ...) resumes KILLED and sends itself SIGKILL at its
#: k-th write, leaving that write half done as a Zarr temporary, until a run ends by itself. Each
#: run first checks what the previous one left: a chunk flagged finished has all its data (exit
#: status 3 otherwise). Prints the exit statuses as JSON.
KILLED_AT_WRITES = """
import json, os, signal, sys, uuid
import numpy as np
import zarr
import zarr.storage._local as local
from csc.cli.encode_video import main
from csc.video.code_store import missing_chunks, read_finished

whole, killed, args = sys.argv[1], sys.argv[2], sys.argv[3:]
n_writes, kill_at, put = 0, 0, local._put

def killing_put(path, value, exclusive=False):
    global n_writes
    n_writes += 1
    if n_writes == kill_at:
        data = bytes(value.as_buffer_like())
        path.parent.mkdir(parents=True, exist_ok=True)
        path.with_suffix(f".{uuid.uuid4().hex}.partial").write_bytes(data[:len(data) // 2])
        os.kill(os.getpid(), signal.SIGKILL)
    return put(path, value, exclusive)

def flagged_means_written(store):
    if not os.path.exists(os.path.join(store, "v", "finished", "zarr.json")):
        return True
    group = zarr.open_group(store, path="v", mode="r")
    flags = read_finished(group, "v")
    if "csc_codes" not in group.attrs:  # killed while the group was created
        return not flags.any()
    return not missing_chunks(group, store, flags)

def run(k, out):
    pid = os.fork()
    if pid == 0:
        global kill_at
        kill_at, local._put = k, killing_put
        code = main([*args, "--out", out]) if flagged_means_written(out) else 3
        if k == 0:
            print(n_writes, flush=True)
        os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])

statuses = [run(0, whole)]
while len(statuses) == 1 or statuses[-1] == -signal.SIGKILL and len(statuses) < 200:
    statuses.append(run(len(statuses), killed))
print(json.dumps(statuses))
"""


@pytest.mark.faults
def test_kill_9_at_every_write_then_resume_gives_the_uninterrupted_store(model_file, tmp_path):
    """Run k of a store is killed at its k-th file write (metadata, amplitude, phase, finished
    flag; the write itself half done), for k = 1, 2, ... until a run ends by itself: no run
    finds a chunk flagged finished without its data, and the store then equals an uninterrupted
    one byte for byte."""
    _, path = model_file
    video = write_video(tmp_path / "v.avi", _movie(n_frames=12, height=24, width=24))
    args = [str(path), str(video), "--stride", "8", "--chunk-frames", "4", "--quiet"]
    whole, store = tmp_path / "whole.zarr", tmp_path / "killed.zarr"
    res = subprocess.run([sys.executable, "-c", KILLED_AT_WRITES, str(whole), str(store), *args],
                         env=command_env(), capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr
    n_writes, statuses = int(res.stdout.split()[0]), json.loads(res.stdout.splitlines()[-1])
    assert statuses[0] == 0, res.stderr  # the uninterrupted run
    assert n_writes >= 3 * 3  # at least amplitude, phase and flag for each of the 3 chunks
    kills, last = statuses[1:-1], statuses[-1]
    assert last == 0 and set(kills) == {-signal.SIGKILL}, (statuses, res.stderr)
    assert len(kills) >= n_writes // 2  # the kills reach into the chunks' writes
    assert open_codes(store, "v").complete
    assert _store_files(store) == _store_files(whole)


def test_a_store_is_locked_and_deleted_as_what_it_is_not_by_its_name(model_file, videos,
                                                                    tmp_path):
    """A link to a store shares the store's lock; --force through a link to an empty folder, and a
    dangling link, write the store where the link points."""
    from csc.run_folder import RunError, exclusive_lock

    model, path = model_file
    kw = dict(model_file=path, stride=4, chunk_frames=8, max_frames=8)
    real, link = tmp_path / "real.zarr", tmp_path / "link.zarr"
    real.mkdir()
    link.symlink_to(real)
    with exclusive_lock(tmp_path / "real.zarr.lock", real):
        with pytest.raises(RunError, match="in use"):
            write_videos(model, [videos["avi"]], link, **kw)
    write_videos(model, [videos["avi"]], link, force=True, **kw)
    assert link.is_symlink() and open_codes(real, "pan").complete
    dangling = tmp_path / "dangling.zarr"
    dangling.symlink_to(tmp_path / "target.zarr")
    write_videos(model, [videos["avi"]], dangling, **kw)
    assert open_codes(tmp_path / "target.zarr", "pan").complete


def test_other_settings_are_refused_unless_force(model_file, videos, tmp_path):
    _, path = model_file
    store = tmp_path / "c.zarr"
    base = [path, videos["frames"], "--out", store, "--max-frames", 5, "--quiet"]
    assert _cli(*base, "--stride", 6).returncode == 0
    before = _store_files(store)
    assert_one_line_error(_cli(*base, "--stride", 4), "written with other settings",
                          "stride: 6 stored, 4 now", "--force overwrites it")
    assert_one_line_error(_cli(*base, "--stride", 6, "--codes"), "layout")
    other = tmp_path / "other.npz"
    changed = csc.load(path)
    changed.coder.lam = 2.0  # another prior
    changed.save(other)
    assert_one_line_error(_cli(other, *base[1:], "--stride", 6), "another model",
                          "model.digest")
    assert _store_files(store) == before  # refused runs leave the store as it was
    # the same model, whichever way it comes (an object, its file, a re-saved copy): accepted
    same = tmp_path / "same.npz"
    csc.load(path).save(same)
    assert _cli(same, *base[1:], "--stride", 6).returncode == 0
    write_videos(csc.load(path), [videos["frames"]], store, stride=6, max_frames=5)
    fresh = tmp_path / "fresh.zarr"
    write_videos(csc.load(path), [videos["frames"]], fresh, stride=6, max_frames=5)
    assert _cli(path, videos["frames"], "--out", fresh, "--max-frames", 5, "--stride", 6,
                "--quiet").returncode == 0
    assert _cli(*base, "--stride", 4, "--force").returncode == 0
    assert open_codes(store, "pan_frames").grid.stride == 4
    # an existing folder that is not a store is never deleted, even with --force
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("mine")
    assert_one_line_error(_cli(path, videos["avi"], "--out", tmp_path / "notes", "--force"),
                          "not a Zarr store")
    assert (tmp_path / "notes" / "a.txt").read_text() == "mine"


def test_bad_input_is_one_line_and_status_2(model_file, videos, tmp_path):
    _, path = model_file
    out = ["--out", tmp_path / "c.zarr", "--quiet"]
    broken = write_video_failing_at(tmp_path / "broken.avi", 3, 10)
    nan_frames = tmp_path / "nan_frames"
    nan_frames.mkdir()
    import imageio.v3 as iio
    for t in range(3):
        iio.imwrite(nan_frames / f"f{t}.tif", np.full((16, 16), np.nan if t == 2 else 0.5,
                                                     np.float32))
    tiny = write_frame_folder(tmp_path / "tiny", _movie(4, 6, 20))
    cases = [
        ((tmp_path / "none.npz", videos["avi"]), "no such file"),
        ((path,), "at least one VIDEO"),
        ((path, tmp_path / "none.avi"), "no such video"),
        ((path, broken), "cannot read video"),
        ((path, ROOT / "README.md"), "cannot read video"),
        ((path, tiny), "smaller than the model's 8x8 patches"),
        ((path, nan_frames), "frame 2 has NaN or Inf"),
        ((path, videos["avi"], "--stride", 0), "--stride must be a positive integer"),
        ((path, videos["avi"], "--chunk-frames", -1), "--chunk-frames must be"),
        ((path, videos["avi"], "--tol", "nan"), "--tol must be >= 0"),
        ((path, videos["avi"], "--workers", 2, "--scheduler", "tcp://x:1"), "give one"),
        ((ROOT / "data" / "README.md", videos["avi"]), "not a csc model file"),
    ]
    for args, fragment in cases:
        assert_one_line_error(_cli(*args, *out), fragment)
    with pytest.raises(ValueError, match="stride"):
        csc.encode_video(model_file[0], videos["avi"], stride=0)
    with pytest.raises(ValueError, match="chunk_frames"):
        csc.encode_video(model_file[0], videos["avi"], chunk_frames=2.5)
    with pytest.raises(VideoError, match="no such video"):
        prepare_encoding(model_file[0], tmp_path / "none.avi")
    with pytest.raises(VideoError, match="NaN or Inf"):
        csc.encode_video(model_file[0], nan_frames).compute()
    # a video shorter than a chunk is one shorter chunk
    short = csc.encode_video(model_file[0], videos["avi"], chunk_frames=100)
    assert short.chunks[0] == (22,)
    with dask.config.set(scheduler="sync"):
        assert np.isfinite(short[:2].compute()).all()
