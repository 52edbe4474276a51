"""The sprite world (csc.video.sprites) against its own ground truth: per-sprite shifts estimated
from the rendered pixels, and the per-pixel flow checked by warping one frame onto the next."""
import numpy as np
import pytest
from scipy import ndimage

from csc.resources import stills_dir
from csc.video.camera import load_stills
from csc.video.sprites import sprite_clips


@pytest.fixture(scope="module")
def stills():
    return load_stills(stills_dir(), max_side=256)


def _interior(owner: np.ndarray, j: int, margin: int) -> np.ndarray:
    """bool (H, W): pixels owned by layer j whose `margin` neighbourhood is owned by j too."""
    return ndimage.binary_erosion(owner == j, iterations=margin, border_value=0)


def _estimate_shift(a: np.ndarray, b: np.ndarray, where: np.ndarray) -> np.ndarray:
    """The shift s (rows, cols) minimising Σ_where (b(x + s) − a(x))² on a 0.02-px grid around the
    best whole-pixel shift (b sampled by a cubic spline): an estimate that knows nothing of how
    the clip was made."""
    x = np.argwhere(where).astype(float)
    coeffs = ndimage.spline_filter(b.astype(np.float64), order=3)

    def cost(s):
        return np.mean((ndimage.map_coordinates(coeffs, (x + s).T, order=3, prefilter=False,
                                                mode="nearest") - a[where]) ** 2)

    coarse = [np.array([r, c], float) for r in range(-3, 4) for c in range(-3, 4)]
    best = min(coarse, key=cost)
    for step in (0.25, 0.05, 0.01):
        grid = [best + step * np.array([r, c]) for r in range(-5, 6) for c in range(-5, 6)]
        best = min(grid, key=cost)
    return best


def test_shapes_range_and_reproducible(stills):
    clips, truth = sprite_clips(stills, 3, 6, 20, np.random.default_rng(4), return_truth=True)
    again = sprite_clips(stills, 3, 6, 20, np.random.default_rng(4))
    for clip, t, other in zip(clips, truth, again):
        assert clip.shape == (6, 20, 20) and clip.dtype == np.float32
        assert 0 <= clip.min() and clip.max() <= 1
        assert t["flow"].shape == (5, 20, 20, 2) and t["flow"].dtype == np.float32
        assert t["owner"].shape == (6, 20, 20) and t["owner"].dtype == np.int8
        assert 3 <= len(t["layers"]) <= 6  # background + 2..5 sprites
        assert np.array_equal(clip, other)


def test_each_sprite_moves_by_its_shift(stills):
    """One frame pair per sprite: the shift that best maps its interior pixels onto the next frame
    is the sprite's drawn velocity (rigid sprites: no rotation, no zoom)."""
    rng = np.random.default_rng(0)
    clips, truth = sprite_clips(stills, 12, 4, 48, rng, n_sprites=(1, 2), radius=(0.3, 0.45),
                                max_rotation_deg=0.0, max_zoom=0.0, return_truth=True)
    errors = []
    for clip, t in zip(clips, truth):
        for j, layer in enumerate(t["layers"]):
            where = _interior(t["owner"][1], j, 3) & _interior(t["owner"][2], j, 3)
            if where.sum() < 60 or clip[1][where].std() < 0.02:
                continue  # too little of it in view, or no texture to track
            s = _estimate_shift(clip[1], clip[2], where)
            errors.append(np.abs(s - np.asarray(layer["shift"])).max())
    assert len(errors) >= 15
    # measured: median 0.014, largest 0.054 px/frame (speeds up to 1.5)
    assert np.median(errors) < 0.03 and max(errors) < 0.1


def test_flow_carries_each_pixel_to_where_its_content_goes(stills):
    """frame_{t+1}(x + flow_t(x)) = frame_t(x) away from occluding edges, for sprites that also
    turn and zoom; holding the frame still (zero flow) is far worse."""
    clips, truth = sprite_clips(stills, 10, 5, 40, np.random.default_rng(1), n_sprites=(2, 3),
                                max_rotation_deg=4.0, max_zoom=0.04, still_background=0.0,
                                return_truth=True)
    err_flow, err_still = [], []
    for clip, t in zip(clips, truth):
        for f in range(len(clip) - 1):
            flow, owner = t["flow"][f], t["owner"]
            keep = np.zeros(owner[f].shape, bool)
            for j in range(len(t["layers"])):  # interior at both ends, 2 px from any edge
                keep |= _interior(owner[f], j, 2) & _interior(owner[f + 1], j, 2)
            x = np.argwhere(keep).astype(float)
            dest = x + flow[keep]
            inside = np.all((dest >= 2) & (dest <= clip.shape[-1] - 3), 1)
            x, dest = x[inside], dest[inside]
            nxt = ndimage.map_coordinates(clip[f + 1].astype(np.float64), dest.T, order=3)
            now = clip[f][tuple(x.astype(int).T)]
            err_flow.append(np.abs(nxt - now))
            err_still.append(np.abs(clip[f + 1][tuple(x.astype(int).T)] - now))
    err_flow, err_still = np.concatenate(err_flow), np.concatenate(err_still)
    # measured: median 0.00096 against 0.0051 for the still frame
    assert np.median(err_flow) < 0.003
    assert np.median(err_flow) < 0.25 * np.median(err_still)


def test_the_background_is_still_or_pans_as_drawn(stills):
    clips, truth = sprite_clips(stills, 6, 3, 16, np.random.default_rng(2), n_sprites=(0, 0),
                                still_background=0.5, return_truth=True)
    shifts = [np.asarray(t["layers"][0]["shift"]) for t in truth]
    assert any(np.all(s == 0) for s in shifts) and any(np.any(s != 0) for s in shifts)
    for clip, t, s in zip(clips, truth, shifts):
        assert np.all(t["owner"] == 0)
        assert np.allclose(t["flow"], s, atol=1e-5)
        if np.all(s == 0):
            assert np.array_equal(clip[0], clip[-1])


@pytest.mark.parametrize("kwargs, message", [
    ({"n_sprites": (3, 1)}, "n_sprites"),
    ({"radius": (0.0, 0.5)}, "radius"),
    ({"still_background": 1.5}, "still_background"),
    ({"softness": 0.0}, "softness"),
    ({"max_speed": -1.0}, "max_speed"),
])
def test_bad_arguments_are_refused(stills, kwargs, message):
    with pytest.raises(ValueError, match=message):
        sprite_clips(stills, 1, 4, 16, np.random.default_rng(0), **kwargs)
