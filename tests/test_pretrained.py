"""The shipped pretrained model: it loads, it is what docs/paper.md says it is, and the tools that
use it by default leave the package data untouched."""
import hashlib
import json

import numpy as np
import pytest

import csc
from csc.analysis import first_layer
from csc.cli import second_layer
from csc.cli import transfer as transfer_demo
from csc.resources import pretrained_dir, videos_dir


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_pretrained_model_loads_with_the_config_that_made_it():
    model = csc.pretrained()
    assert isinstance(model, csc.PixelModel)
    cfg = json.loads((pretrained_dir() / "config.json").read_text())
    assert model.patch_size == cfg["patch_size"]
    assert model.components_.shape[0] == cfg["n_components"]
    assert model.coder.n_updates_ == cfg["n_updates"]
    assert (pretrained_dir() / "model.npz").stat().st_size <= 5 * 2**20


def test_a_model_prints_what_it_is(model_file):
    """repr names the units, patches, prior, training and second layers, not an address."""
    text = repr(csc.pretrained())
    assert text == ("PixelModel(128 complex units on 16x16 patches (181 whitened features), "
                    "prior cauchy λ=10 σ=0.4 + l2 slowness κ=5, 9000 updates; second layer: "
                    "100 motion units, 100 form units)")
    tiny, _ = model_file
    assert repr(tiny).startswith("PixelModel(6 complex units on 8x8 patches")
    assert "second layer" not in repr(tiny)


def test_pretrained_units_are_quadrature_pairs_well_above_chance():
    """docs/paper.md's claim about the shipped units (≥ 70% quadrature pairs in whitened space,
    localised beyond random units drawn through the same whitener)."""
    m = first_layer.model_measures(csc.pretrained())
    assert m["learned whitened"]["quadrature"] >= 0.7
    assert m["random whitened"]["quadrature"] < 0.05
    assert m["learned whitened"]["localisation"] > m["random whitened"]["localisation"] + 0.2


@pytest.mark.slow
def test_second_layer_defaults_to_a_copy_of_the_pretrained_model(tmp_path, capsys):
    before = _sha(pretrained_dir() / "model.npz")
    out = tmp_path / "second"
    code = second_layer.main(["--out", str(out), "--n-sequences", "12", "--n-updates", "3",
                              "--n-motion", "4", "--n-form", "4", "--no-tuning"])
    assert code == 0, capsys.readouterr().err
    model = csc.load(out / "model.npz")
    assert model.motion_units.components_.shape[1] == 4
    assert (out / "motion_units.png").stat().st_size > 0
    assert _sha(pretrained_dir() / "model.npz") == before
    # the copy draws its sequences as the model was trained: the installed clips (and camera)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["video_dir"] == str(videos_dir()) and cfg["camera_share"] > 0


def test_transfer_demo_defaults_to_the_pretrained_model(tmp_path, capsys):
    out = tmp_path / "transfer"
    code = transfer_demo.main(["--out", str(out), "--transform", "translation", "--method",
                               "translation", "--n-frames", "3", "--quiet"])
    assert code == 0, capsys.readouterr().err
    scores = json.loads((out / "scores.json").read_text())
    assert scores["model"].startswith("pretrained")
    pred = scores["transforms"]["translation"]["methods"]["translation"]["prediction"]
    assert np.isfinite(pred["correlation"]).all() and len(pred["correlation"]) == 3
