"""Template fits of motion-unit columns (csc.analysis.motion_templates): exact on planted columns,
at chance on random ones, and a template's direction agrees with the motion that drives it."""
import numpy as np
import pytest

from csc.analysis import motion_templates as mt


@pytest.fixture(scope="module")
def units():
    """64 first-layer units: random frequencies (radians/pixel), centres spread over a 16-px
    patch, 16 in each quadrant."""
    rng = np.random.default_rng(0)
    omega = rng.uniform(-2.5, 2.5, (64, 2))
    centres = np.concatenate([rng.uniform(lo, np.add(lo, 7), (16, 2)) for lo in
                              ([0, 0], [0, 8.5], [8.5, 0], [8.5, 8.5])])
    return omega, centres, 16


def test_quadrants(units):
    _, centres, p = units
    assert np.array_equal(mt.quadrant_of(centres, p), np.repeat(np.arange(4), 16))


def test_planted_columns_fit_their_family_only(units):
    omega, centres, p = units
    T = mt.templates(omega, centres, p)
    v = np.array([0.3, -1.0])
    cols = np.stack([T["global"] @ v, T["quadrant"][2] @ v, T["rotation"][:, 0],
                     T["expansion"][:, 0]], 1)
    fits = mt.template_fits(cols, omega, centres, p)
    assert np.allclose(fits["global"][0], 1) and np.allclose(fits["quadrant"][1], 1)
    assert np.allclose(fits["rotation"][2], 1) and np.allclose(fits["expansion"][3], 1)
    assert fits["best_quadrant"][1] == 2
    assert fits["global"][1] < mt.LOCAL_GLOBAL_R2  # a quadrant's motion is not a global one
    assert list(fits["detector"]) == [True, True, False, False]
    assert list(fits["local"]) == [False, True, False, False]


def test_direction_follows_motion_tuning_convention(units):
    """A column δ = ⟨ω, shift⟩ for a shift along θ (rows, cols) = (−sin θ, cos θ) has direction
    θ; its negative the opposite one."""
    omega, centres, p = units
    for theta in (0.0, 50.0, 135.0, 270.0):
        shift = np.array([-np.sin(np.radians(theta)), np.cos(np.radians(theta))])
        col = (omega @ shift)[:, None]
        assert mt.template_fits(col, omega, centres, p)["direction"][0] == pytest.approx(theta)
        assert mt.template_fits(-col, omega, centres, p)["direction"][0] == pytest.approx(
            (theta + 180) % 360)


def test_random_columns_fit_at_chance(units):
    """A random column explains about n/K of its norm: 2/64 for a translation."""
    omega, centres, p = units
    fits = mt.template_fits(mt.random_columns((64, 2000), seed=1), omega, centres, p)
    assert np.mean(fits["global"]) == pytest.approx(2 / 64, rel=0.1)
    assert np.mean(fits["rotation"]) == pytest.approx(1 / 64, rel=0.15)
    assert not fits["detector"].any()


def test_concentration(units):
    _, centres, p = units
    D = np.zeros((64, 2))
    D[:16, 0] = 1.0  # all weight in quadrant 0
    D[:, 1] = 1.0  # spread evenly
    assert np.allclose(mt.spatial_concentration(D, centres, p), [1.0, 0.25])


def test_direction_coverage():
    assert mt.directions_covered([]) == 0
    assert mt.directions_covered([10.0]) == 2  # the axis 10° / 190°
    assert mt.directions_covered([10.0, 100.0]) == 4
    assert mt.largest_direction_gap([0.0, 90.0]) == pytest.approx(90.0)
    assert mt.largest_direction_gap([0.0]) == pytest.approx(180.0)
    assert mt.largest_direction_gap([]) == 360.0


def test_template_unit_prefers_its_direction():
    """End to end on the pretrained model: a motion unit whose column is the global template for
    direction θ responds most to translating noise and gratings moving along θ, measured by
    `motion_tuning` (which knows nothing of the templates)."""
    from sklearn.base import clone

    import csc
    from csc.analysis import motion_tuning
    from csc.analysis.first_layer import whitened_bases
    from csc.analysis.geometry import envelope_centre
    from csc.analysis.transfer import unit_frequencies
    from csc.second_layer import motion_activities

    model = csc.pretrained()
    B = whitened_bases(model)
    omega, _ = unit_frequencies(B)
    thetas = np.array([0.0, 90.0, 225.0])
    shifts = np.stack([-np.sin(np.radians(thetas)), np.cos(np.radians(thetas))], 1)
    cols = omega @ shifts.T
    cols /= np.linalg.norm(cols, axis=0)
    fits = mt.template_fits(cols, omega, envelope_centre(B), model.patch_size)
    assert np.allclose(fits["direction"], thetas)
    mu = clone(model.motion_units).set_params(n_components=3)
    mu._init_components(cols.shape[0])
    mu.components_ = cols
    result = motion_tuning.tuning_curves(model, directions=8, speeds=(1.0,), n_repeats=2,
                                         n_frames=4, respond=lambda P: motion_activities(
                                             model, P, mu))
    for kind in ("grating", "noise"):  # the signed mean activity, polarity undone
        signed = result["sign"][:, None] * result[kind]["responses"][:, :, 0]
        assert np.array_equal(result["directions"][signed.argmax(1)], thetas)
