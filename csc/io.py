"""Versioned model files (`.npz`, no pickle) written atomically, and `load`.

A file holds: `format` ("csc-model"), `version`, `params` (JSON of the constructor parameters),
`state` (JSON: updates made, history, RNG state, learning-rule scalars), and arrays: `W` (the
real-form dictionary, float64 (2K, M)), optional `power_vector` and learning-rule arrays
(`rule_A`, `rule_B`). Everything needed to continue learning exactly where it stopped.
A model learned from pixels also holds its whitener (`whitener_*` arrays) and may hold `extra`
(JSON: e.g. a training script's sampler state); `load` then returns a `PixelModel`.
"""
from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

FORMAT = "csc-model"
VERSION = 1


def _atomic_savez(path: Path, arrays: dict[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_model(model, path, whitener=None, extra: dict | None = None,
               layers: dict | None = None) -> None:
    """Write a fitted `ComplexSparseCoding` (and optionally its whitener and JSON-able `extra`)
    to `path` atomically: a crash leaves the old file."""
    rule_state = model._rule.state()
    arrays = {f"rule_{k}": v for k, v in rule_state.items() if isinstance(v, np.ndarray)}
    scalars = {k: v for k, v in rule_state.items() if not isinstance(v, np.ndarray) and
               v is not None}
    params = model.get_params()
    if isinstance(params["weights"], np.ndarray):
        params["weights"] = params["weights"].tolist()
    state = {"n_updates_": model.n_updates_, "history_": model.history_,
             "rng": model._rng.bit_generator.state, "rule": scalars}
    arrays.update(format=np.array(FORMAT), version=np.array(VERSION),
                  params=np.array(json.dumps(params)), state=np.array(json.dumps(state)),
                  W=model._W)
    if model._power_vector is not None:
        arrays["power_vector"] = model._power_vector
    if whitener is not None:
        arrays.update({f"whitener_{k}": v for k, v in whitener.to_arrays().items()})
    if extra is not None:
        arrays["extra"] = np.array(json.dumps(extra))
    for prefix, layer in (layers or {}).items():  # second layers: their own plain arrays
        arrays.update({f"layer_{prefix}_{k}": v for k, v in layer.to_arrays().items()})
    _atomic_savez(Path(path), arrays)


def _read(path) -> dict[str, np.ndarray]:
    """The arrays of a csc model file, after checking its tag and version."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no model file at {path}")
    try:
        with np.load(path, allow_pickle=False) as f:
            data = {k: f[k] for k in f.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise ValueError(f"{path} is not a csc model file ({exc.__class__.__name__})") from None
    if "format" not in data or str(data["format"]) != FORMAT:
        raise ValueError(f"{path} is not a csc model file (no '{FORMAT}' tag)")
    version = int(data["version"])
    if version > VERSION:
        raise ValueError(f"{path} was written by a newer csc (file format {version}, this csc "
                         f"reads up to {VERSION}); upgrade csc to load it")
    return data


def load_extra(path) -> dict:
    """The JSON `extra` state saved with a model ({} if none)."""
    data = _read(path)
    return json.loads(str(data["extra"])) if "extra" in data else {}


def load(path):
    """Read a model written by `save`: a `ComplexSparseCoding`, or a `PixelModel` when the file
    holds a whitener. Raises ValueError if `path` is not a csc model file or was written by a
    newer version of csc, FileNotFoundError if it does not exist."""
    from csc.learning.estimator import ComplexSparseCoding
    from csc.video.pixel_model import PixelModel
    from csc.video.whitening import whitener_from_arrays

    data = _read(path)
    params = json.loads(str(data["params"]))
    state = json.loads(str(data["state"]))
    n_components = params.pop("n_components")
    model = ComplexSparseCoding(n_components, **params)
    model._reset_state()
    model._set_dictionary(data["W"].astype(np.float64))
    model.n_updates_ = int(state["n_updates_"])
    model.history_ = state["history_"]
    model._rng.bit_generator.state = state["rng"]
    model._power_vector = data.get("power_vector")
    rule_state = dict(state["rule"])
    rule_state.update({k[len("rule_"):]: v for k, v in data.items() if k.startswith("rule_")})
    model._rule.set_state(rule_state)
    whitener = {k[len("whitener_"):]: v for k, v in data.items() if k.startswith("whitener_")}
    if not whitener:
        return model
    pixel_model = PixelModel(model, whitener_from_arrays(whitener))
    for prefix, attr in PixelModel.LAYERS.items():
        layer = {k[len(f"layer_{prefix}_"):]: v for k, v in data.items()
                 if k.startswith(f"layer_{prefix}_")}
        if layer:
            from csc.analysis import second_layer

            cls = {"motion": second_layer.MotionUnits, "form": second_layer.FormUnits}[prefix]
            setattr(pixel_model, attr, cls.from_arrays(layer))
    return pixel_model
