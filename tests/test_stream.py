"""The streaming encoder (csc.video.stream): each frame's codes are the causal solve of that
frame (checked against the solver called by hand, with the warm start computed by hand), no
frame is read before the previous one's codes are out, files, frame arrays and an http:// stream
give the same codes, and bad input is refused in one line."""
import functools
import http.server
import threading

import numpy as np
import pytest

from csc.backends.backend import get_backend
from csc.core.causal_inference import causal_fista
from csc.core.fista import lipschitz_constant
from csc.core.model import codes_from_real, codes_to_real, dictionary_to_real
from csc.testing.movies import pink_noise, transformed_movie, write_video
from csc.video.reader import VideoError, iter_frames
from csc.video.stream import stream


def _movie(n_frames=6, height=24, width=32, seed=3):
    image = pink_noise((96, 96), np.random.default_rng(seed))
    return transformed_movie(image, n_frames, 64, shift=(0.6, -0.9))[:, :height, :width]


def _by_hand(model, frames, stride, max_iter, warm_start):
    """The causal solves written out: frame 0 from zero without an anchor, frame t from the
    warm start, anchored at frame t−1's amplitudes. complex (T, n_patches, K)."""
    be = get_backend("cpu")
    prior = model.coder.prior()
    W = dictionary_to_real(model.coder.components_, np.float32)
    w = prior.weight_vector(W.shape[1], np.float32)
    L, _ = lipschitz_constant(W, w)
    p = model.patch_size
    codes = []
    for t, frame in enumerate(frames):
        patches = np.stack([frame[y:y + p, x:x + p]
                            for y in range(0, frame.shape[0] - p + 1, stride)
                            for x in range(0, frame.shape[1] - p + 1, stride)])
        X = model.whitener.transform(patches).astype(np.float32)
        if t == 0 or warm_start == "zeros":
            Z0 = np.zeros((len(X), W.shape[0] // 2), np.complex64)
        elif warm_start == "previous" or t == 1:
            Z0 = codes[-1]
        else:
            turn = np.exp(1j * (np.angle(codes[-1]) - np.angle(codes[-2])))
            Z0 = np.where((codes[-1] != 0) & (codes[-2] != 0), codes[-1] * turn, codes[-1])
        anchor = None if t == 0 else np.abs(codes[-1]).astype(np.float32)
        C, _ = causal_fista(X, W, w, prior, anchor, codes_to_real(Z0[:, None], np.float32), L,
                            max_iter, 0.0, be)
        codes.append(codes_from_real(C, len(X), 1)[:, 0])
    return np.stack(codes)


@pytest.mark.parametrize("warm_start", ["phase", "previous", "zeros"])
def test_each_frame_is_its_causal_solve_from_its_warm_start(model_file, warm_start):
    model, _ = model_file
    frames = _movie()
    out = list(stream(model, frames, stride=4, max_iter=6, warm_start=warm_start,
                      backend="cpu"))
    assert [o.index for o in out] == list(range(len(frames)))
    assert all(o.n_iter == 6 for o in out)
    grid = out[0].grid
    assert (grid.rows, grid.cols) == (5, 7)
    mine = np.stack([o.codes.reshape(-1, o.codes.shape[-1]) for o in out])
    ref = _by_hand(model, frames, 4, 6, warm_start)
    np.testing.assert_allclose(mine, ref, rtol=1e-4, atol=1e-5)


def test_no_frame_is_read_before_the_previous_codes_are_out(model_file):
    model, _ = model_file
    read = []

    def camera():
        for t, frame in enumerate(_movie()):
            read.append(t)
            yield frame

    for got in stream(model, camera(), max_iter=3):
        assert read == list(range(got.index + 1))


def test_a_file_frame_arrays_and_an_http_stream_give_the_same_codes(model_file, tmp_path):
    model, _ = model_file
    path = write_video(tmp_path / "v.avi", _movie())
    frames = list(iter_frames(path))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v.avi"
        runs = [[o.codes for o in stream(model, source, max_iter=4)]
                for source in (frames, path, str(path), url)]
    finally:
        server.shutdown()
        server.server_close()
    for other in runs[1:]:
        np.testing.assert_array_equal(np.stack(other), np.stack(runs[0]))


def test_bad_input_is_refused_in_one_line(model_file, tmp_path):
    model, _ = model_file
    frames = _movie()
    with pytest.raises(ValueError, match="csc.PixelModel"):
        stream(model.coder, frames)
    with pytest.raises(ValueError, match="unknown warm_start 'future'"):
        stream(model, frames, warm_start="future")
    with pytest.raises(ValueError, match="max_iter"):
        stream(model, frames, max_iter=0)
    cases = {
        "smaller than the model's 8x8 patches": [np.zeros((6, 40), np.float32)],
        "frame 2 is 20x32 pixels, frame 0 was 24x32": [*frames[:2], frames[2][:20]],
        "frame 1 holds NaN or Inf": [frames[0], np.full_like(frames[1], np.nan)],
        "cannot open": str(tmp_path / "nowhere.avi"),
    }
    for told, source in cases.items():
        with pytest.raises(VideoError, match=told):
            list(stream(model, source, max_iter=2))


def _run(capsys, *args):
    from csc.cli import stream as cli

    capsys.readouterr()
    code = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def _last_line_counts(out: str) -> tuple[int, int, int]:
    """(frames encoded, frames dropped, frames read) from the command's last line."""
    line = out.strip().splitlines()[-1]
    encoded = int(line.split(" frames of ")[0])
    if " frames dropped" not in line:
        return encoded, 0, encoded
    dropped, read = line.split(" frames dropped")[0].split(", ")[-1].split(" of ")
    return encoded, int(dropped), int(read)


def test_the_command_plays_a_file_at_its_rate_and_writes_the_live_view(model_file, tmp_path,
                                                                      capsys):
    model, path = model_file
    video = write_video(tmp_path / "v.avi", _movie(n_frames=30), fps=25)
    code, out, err = _run(capsys, video, "--model", path, "--view", tmp_path / "view.mp4",
                          "--units", 0, 5, "--max-iter", 4, "--stride", 4, "--quiet")
    assert code == 0, err
    encoded, dropped, read = _last_line_counts(out)
    assert read == 30 and encoded + dropped == 30
    assert "frames/s" in out and "view:" in out
    view = np.stack(list(iter_frames(tmp_path / "view.mp4")))
    assert view.shape == (encoded, 2 * 24 + 4, 3 * 32 + 8)  # two units' rows of three panels
    # the first panel of each row is the frame itself: the last one is always encoded
    read = np.stack(list(iter_frames(video)))
    assert np.argmin(np.abs(read - view[-1, :24, :32]).mean((1, 2))) == 29


def test_a_source_faster_than_the_encoder_is_told_with_the_frames_dropped(model_file, tmp_path,
                                                                         capsys):
    model, path = model_file
    video = write_video(tmp_path / "v.avi", _movie(n_frames=30), fps=25)
    code, out, err = _run(capsys, video, "--model", path, "--fps", 100000, "--max-iter", 200,
                          "--quiet")
    assert code == 0, err
    encoded, dropped, read = _last_line_counts(out)
    assert dropped > 0 and encoded + dropped == read == 30, out
    assert "the source is faster than the encoder" in out
    code, out, err = _run(capsys, video, "--model", path, "--every-frame", "--quiet")
    assert code == 0, err
    assert _last_line_counts(out) == (30, 0, 30) and "dropped" not in out


@pytest.mark.parametrize("args, told", [
    (["--view", "view.png"], "--view must name a .mp4 or a .gif"),
    (["--units", "6"], "--units must be between 0 and 5"),
    (["--max-iter", "0"], "--max-iter must be >= 1"),
    (["--fps", "0"], "--fps must be > 0"),
])
def test_the_command_refuses_bad_options_in_one_line(model_file, tmp_path, capsys, args, told):
    model, path = model_file
    video = write_video(tmp_path / "v.avi", _movie(n_frames=4), fps=25)
    code, out, err = _run(capsys, video, "--model", path, *args)
    assert code == 2 and err.strip().splitlines() == [f"csc-stream: error: {told}" +
                                                      err.split(told, 1)[1].rstrip()], err


def test_the_command_refuses_a_source_it_cannot_open_in_one_line(model_file, tmp_path, capsys):
    _, path = model_file
    code, out, err = _run(capsys, tmp_path / "missing.avi", "--model", path)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "cannot open" in err, err
