"""The pictures of a run: the bases grid (numbered cells, gaps between units that read as gaps)
and the training curves' running mean."""
import numpy as np

from csc.plotting.bases import bases_image, bases_layout, running_mean, save_bases_png


def test_running_mean_is_the_mean_of_the_last_window_values(rng):
    v = rng.standard_normal(37)
    got = running_mean(v, 5)
    want = [np.mean(v[max(0, i - 4): i + 1]) for i in range(len(v))]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert running_mean([], 5).size == 0


def test_bases_grid_marks_the_gaps_between_units(rng, tmp_path):
    """Each unit's three panels are finite (white 1-pixel separators inside the cell); every
    pixel between cells is NaN, so the picture draws it in a colour of its own."""
    K, p = 7, 5
    bases = rng.standard_normal((K, p, p)) + 1j * rng.standard_normal((K, p, p))
    img = bases_image(bases)
    n_cols, cell_h, cell_w = bases_layout(K, p)
    assert img.shape == (-(-K // n_cols) * cell_h, n_cols * cell_w)
    inside = np.zeros(img.shape, bool)
    for k in range(K):
        r, c = divmod(k, n_cols)
        cell = img[r * cell_h + 2: r * cell_h + 2 + p, c * cell_w + 2: c * cell_w + 3 * p + 4]
        assert np.isfinite(cell).all() and (cell[:, [p, 2 * p + 1]] == 1).all()
        np.testing.assert_allclose(cell[:, 2 * p + 2:].max(), 1.0)  # the envelope, scaled
        inside[r * cell_h + 2: r * cell_h + 2 + p, c * cell_w + 2: c * cell_w + 3 * p + 4] = True
    assert np.isnan(img[~inside]).all()
    save_bases_png(bases, tmp_path / "b.png")
    assert (tmp_path / "b.png").stat().st_size > 0


def test_side_by_side_names_each_column_on_top(rng):
    """With labels, a white strip on top of every frame holds dark text over each column and
    nowhere over the gaps; the movie below is the unlabelled one."""
    import pytest

    from csc.plotting.prediction import LABEL_HEIGHT, side_by_side

    movies = [rng.random((3, 8, 8)) for _ in range(3)]
    plain = side_by_side(movies, zoom=8, gap=4)  # columns of 64 pixels, 4 apart
    named = side_by_side(movies, zoom=8, gap=4, labels=["source", "pred", "truth"])
    assert named.shape == (3, plain.shape[1] + LABEL_HEIGHT, plain.shape[2])
    np.testing.assert_array_equal(named[:, LABEL_HEIGHT:], plain)
    strip = named[0, :LABEL_HEIGHT]
    assert (named[:, :LABEL_HEIGHT] == strip).all()
    for i in range(3):
        assert strip[:, i * 68 + 16: i * 68 + 48].min() < 0.5  # text over each column's middle
    assert (strip[:, 64:68] > 0.9).all() and (strip[:, 132:136] > 0.9).all()  # gaps white
    with pytest.raises(ValueError, match="2 labels for 3 columns"):
        side_by_side(movies, zoom=4, labels=["a", "b"])
