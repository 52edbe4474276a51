"""Model files are read without trusting them: hostile or damaged files are refused with one
ValueError naming the file and the problem, before they can exhaust memory; saved files get the
usual mode; learning histories are stored as arrays, exactly."""
import copy
import io as bytes_io
import json
import os
import stat
import struct
import tracemalloc
import zipfile
from contextlib import nullcontext

import numpy as np
import pytest

import csc
from csc import io
from csc.cli import analyze, second_layer, transfer
from csc.testing.planted import planted_data


@pytest.fixture(scope="module")
def pretrained_arrays():
    """The shipped model's arrays as this csc writes them (a pixel-model with both layers)."""
    return csc.pretrained().to_arrays()


def npy(a: np.ndarray, allow_pickle: bool = False) -> bytes:
    buf = bytes_io.BytesIO()
    np.lib.format.write_array(buf, a, allow_pickle=allow_pickle)
    return buf.getvalue()


def members(arrays: dict, kind: str = "pixel-model") -> list[tuple[str, bytes]]:
    """(member name, bytes) of a model file holding `arrays`, as `io.save` writes them."""
    tags = {"format": np.array(io.FORMAT), "version": np.array(io.VERSION), "kind": np.array(kind)}
    return [(f"{k}.npy", npy(v)) for k, v in {**tags, **arrays}.items()]


def write_zip(path, entries: list[tuple[str, bytes]]) -> None:
    with zipfile.ZipFile(path, "w") as z:
        for name, data in entries:
            z.writestr(name, data)


def npy_header(shape: tuple[int, ...], dtype: str = "<f8") -> bytes:
    """A .npy header declaring `shape` and `dtype` (the data are up to the caller)."""
    buf = bytes_io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False,
                                               "shape": shape})
    return buf.getvalue()


def assert_refused(path, match: str) -> str:
    """The one-line ValueError that loading `path` raises, which names the file and matches."""
    with pytest.raises(ValueError, match=match) as info:
        csc.load(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    return message


# ----------------------------------------------------------------------------- structure
def _set(name, value):
    return lambda a: a.__setitem__(name, value(a[name]) if callable(value) else value)


def _with_nan(a):
    a = a.copy()
    a.flat[0] = np.nan
    return a


def _state(**changes):
    def change(arrays):
        state = io.from_json_array(arrays["state"])
        state.update(changes)
        arrays["state"] = io.json_array(state)
    return change


STRUCTURE_CASES = {
    "missing W": (lambda a: a.pop("W"), r"W is missing"),
    "missing whitener": (lambda a: a.pop("whitener_components"), "whitener_components is missing"),
    "string W": (_set("W", lambda W: np.full(W.shape, "x")), r"W has dtype <U1, expected floats"),
    "W rows": (_set("W", lambda W: W[:-1]), r"W has shape \(255, 181\), expected \(256, \*\)"),
    "whitener features": (_set("whitener_components", lambda E: E[:, :-1]),
                          r"whitener_components has shape \(256, 180\), expected \(256, 181\)"),
    "second-layer units": (_set("layer_motion_components", lambda D: D[:-1]),
                           r"layer_motion_components has shape \(127, 100\)"),
    "NaN in W": (_set("W", _with_nan), "W contains NaN or Inf"),
    "NaN in whitener": (_set("whitener_mean", _with_nan), "whitener_mean contains NaN or Inf"),
    "Inf in power_vector": (_set("power_vector", lambda v: v * np.inf),
                              "power_vector contains NaN or Inf"),
    "history lengths": (_set("history_snr", lambda h: h[:-1]), "history columns differ"),
    "params not JSON": (_set("params", np.array("{'lam': 1")), "params is not valid JSON"),
    "NaN in JSON": (_set("params", lambda p: np.array(str(p).replace('"lam": 10.0', '"lam": NaN'))),
                    "params is not valid JSON .NaN is not a finite number"),
    "params of the wrong type": (
        _set("params", lambda p: io.json_array({**io.from_json_array(p), "n_components": "128"})),
        "params: The 'n_components' parameter of ComplexSparseCoding must be an int"),
    "unknown parameter": (
        _set("params", lambda p: io.json_array({**io.from_json_array(p), "colour": 1})),
        r"params has unknown parameters \['colour'\]"),
    "state a list": (_set("state", io.json_array([1, 2])), "state is a JSON list, expected a dict"),
    "RNG state": (_state(rng={"bit_generator": "PCG64"}), "state.rng is not a PCG64 state"),
    "negative updates": (_state(n_updates_=-3), r"state.n_updates_ == -3, must be >= 0"),
    "step": (_state(rule={"eta": -1.0}), r"learning rule state: eta == -1.0, must be > 0"),
    "second-layer prior": (_set("second_layer_prior", io.json_array({"sparsity": "l0"})),
                           "second_layer_prior: unknown sparsity 'l0'"),
    "form stats": (_set("layer_form_state", lambda s: np.array(str(s).replace(
        '"center_units": true', '"center_units": 1'))),
        "layer_form_state.feature_stats_.center_units has type int, expected bool"),
}


@pytest.mark.parametrize("case", list(STRUCTURE_CASES))
def test_invalid_model_structure_is_one_value_error(tmp_path, pretrained_arrays, case):
    change, match = STRUCTURE_CASES[case]
    arrays = dict(pretrained_arrays)
    change(arrays)
    path = tmp_path / "model.npz"
    io.save(path, "pixel-model", arrays, check=False)
    message = assert_refused(path, match)
    assert "is not a valid pixel-model file" in message


def test_a_reader_that_fails_unforeseen_is_caught_by_load(tmp_path, monkeypatch):
    """`load`'s net: a reader's KeyError (or TypeError, IndexError ...) still becomes one
    ValueError naming the file."""
    class Fragile:
        @classmethod
        def from_arrays(cls, arrays):
            return arrays["absent"]

    monkeypatch.setitem(io.model_file._READERS, "fragile", Fragile.from_arrays)
    with pytest.raises(ValueError, match=r"f.npz not saved: the fragile would not load: "
                                         r"KeyError 'absent'"):
        io.save(tmp_path / "f.npz", "fragile", {"x": np.zeros(2)})
    assert not (tmp_path / "f.npz").exists()
    io.save(tmp_path / "f.npz", "fragile", {"x": np.zeros(2)}, check=False)
    assert_refused(tmp_path / "f.npz", r"is not a valid fragile file: KeyError 'absent'")


# ----------------------------------------------------------------------------- the archive
def _replace(name: str, data: bytes):
    return lambda entries: [(n, data if n == name else d) for n, d in entries]


ARCHIVE_CASES = {
    "declared shape 10^12": (_replace("W.npy", npy_header((10**6, 10**6)) + bytes(64)),
                             r"'W.npy' declares a float64 array of shape \(1000000, 1000000\)"),
    "short member": (_replace("W.npy", npy_header((256, 181)) + bytes(64)), "but holds 192 bytes"),
    "object dtype": (_replace("W.npy", npy(np.array([1, None], object), allow_pickle=True)),
                     "'W.npy' holds dtype object"),
    "structured dtype": (_replace("W.npy", npy(np.zeros(2, [("a", "<f8")]))),
                         r"'W.npy' holds dtype \[\('a', '<f8'\)\]"),
    "not .npy": (lambda e: e + [("notes.txt", b"hello")], "'notes.txt' is not a <name>.npy"),
    "in a folder": (lambda e: e + [("x/W.npy", npy(np.zeros(2)))], "'x/W.npy' is not a"),
    "twice": (lambda e: e + [("W.npy", npy(np.zeros(2)))], "'W.npy' appears twice"),
    "bad header": (_replace("W.npy", b"\x93NUMPY\x01\x00" + struct.pack("<H", 16)
                            + b"{'descr': 1}   \n"),
                   "'W.npy' has no valid .npy header"),
}


@pytest.mark.parametrize("case", list(ARCHIVE_CASES))
def test_hostile_archive_is_refused_before_reading(tmp_path, pretrained_arrays, case):
    change, match = ARCHIVE_CASES[case]
    path = tmp_path / "model.npz"
    with pytest.warns(UserWarning, match="Duplicate") if case == "twice" else nullcontext():
        write_zip(path, change(members(pretrained_arrays)))
    message = assert_refused(path, match)
    assert "is not a csc model file" in message


@pytest.mark.parametrize("limit,match", [("MAX_MEMBER_BYTES", "'state.npy' unpacks to"),
                                         ("MAX_TOTAL_BYTES", "members unpack to"),
                                         ("MAX_MEMBERS", "members .at most")])
def test_limits_are_checked(tmp_path, pretrained_arrays, monkeypatch, limit, match):
    path = tmp_path / "model.npz"
    io.save(path, "pixel-model", {**pretrained_arrays, "state": np.array("x" * 10_000)},
            check=False)
    monkeypatch.setattr(io.archive, limit, {"MAX_MEMBERS": 5, "MAX_MEMBER_BYTES": 20_000,
                                            "MAX_TOTAL_BYTES": 100_000}[limit])
    assert_refused(path, match)


def test_zip_bomb_is_refused_without_unpacking(tmp_path, pretrained_arrays):
    """A 4.3 MiB file (the model and a member deflated from 768 MiB of zeros, written in chunks
    so that the test stays small) unpacks to 180 times its size: refused from the member sizes
    before any is decompressed (measured peak of allocations: 30 kB; before: 768 MiB)."""
    path = tmp_path / "bomb.npz"
    n = 768 * 2**20
    chunk = bytes(16 * 2**20)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        for name, data in members(pretrained_arrays):
            z.writestr(name, data)
        with z.open("padding.npy", "w") as f:
            f.write(npy_header((n,), "|u1"))
            for _ in range(n // len(chunk)):
                f.write(chunk)
    assert path.stat().st_size < 8 * 2**20
    tracemalloc.start()
    try:
        assert_refused(path, r"times the file's .* \(at most 100 times: a zip bomb\?\)")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20, f"{peak / 2**20:.0f} MiB allocated"


# ----------------------------------------------------------------------------- the tools
@pytest.mark.parametrize("main,argv", [
    (analyze.main, []),
    (second_layer.main, ["--n-sequences", "4", "--no-tuning"]),
    (transfer.main, ["--transform", "translation", "--method", "translation", "--quiet"]),
])
def test_tools_refuse_a_nan_model_with_one_line(tmp_path, pretrained_arrays, capsys, main, argv):
    path = tmp_path / "model.npz"
    io.save(path, "pixel-model", {**pretrained_arrays, "W": _with_nan(pretrained_arrays["W"])},
            check=False)
    if main is transfer.main:
        argv = ["--model", str(path), "--out", str(tmp_path / "out"), *argv]
    else:
        argv = [str(path), *argv]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and err.startswith("csc-") and ": error: " in err
    assert f"{path} is not a valid pixel-model file: W contains NaN or Inf" in err
    assert "nan" not in out.lower()


# ----------------------------------------------------------------------------- writing
def test_saved_files_get_the_mode_open_would_give(tmp_path):
    model = csc.ComplexSparseCoding(2, n_updates=1, batch_size=2, random_state=0)
    model.fit(np.random.default_rng(0).standard_normal((4, 3, 5)))
    for umask in (0o022, 0o002, 0o077):
        old = os.umask(umask)
        try:
            model.save(tmp_path / "m.npz")
            (tmp_path / "plain").unlink(missing_ok=True)
            with open(tmp_path / "plain", "w"):
                pass
        finally:
            os.umask(old)
        mode = stat.S_IMODE((tmp_path / "m.npz").stat().st_mode)
        assert mode == 0o666 & ~umask == stat.S_IMODE((tmp_path / "plain").stat().st_mode)


def test_save_refuses_object_arrays_and_odd_names(tmp_path):
    with pytest.raises(ValueError, match="[Oo]bject arrays"):
        io.save(tmp_path / "m.npz", "coder", {"x": np.array([None])})
    with pytest.raises(ValueError, match="not letters"):
        io.save(tmp_path / "m.npz", "coder", {"a/b": np.zeros(1)})
    assert not list(tmp_path.iterdir())


# ----------------------------------------------------------------------------- history
@pytest.fixture(scope="module")
def learned():
    X, _, _ = planted_data(n_components=4, n_features=12, n_sequences=16, n_frames=4,
                           random_state=3)
    model = csc.ComplexSparseCoding(4, lam=0.1, n_updates=7, batch_size=4, random_state=0)
    return model.fit(X), X


def _bits(history: dict) -> dict:
    return {k: np.array(v).view(np.uint64 if isinstance(v[0], float) else np.int64).tolist()
            for k, v in history.items()}


def test_history_is_stored_as_arrays_exactly(tmp_path, learned):
    model, _ = learned
    path = tmp_path / "m.npz"
    model.save(path)
    _, arrays = io.read(path)
    assert "history_" not in io.from_json_array(arrays["state"])
    assert {k: (arrays[k].dtype, arrays[k].shape) for k in arrays if k.startswith("history_")} \
        == {"history_energy": (np.float64, (7,)), "history_snr": (np.float64, (7,)),
            "history_active": (np.float64, (7,)), "history_n_iter": (np.int64, (7,))}
    loaded = csc.load(path)
    assert _bits(loaded.history_) == _bits(model.history_)
    assert all(type(v) is int for v in loaded.history_["n_iter"])
    assert all(type(v) is float for v in loaded.history_["energy"])


def test_saving_without_history(tmp_path, learned):
    model, X = learned
    model.save(tmp_path / "m.npz", history=False)
    _, arrays = io.read(tmp_path / "m.npz")
    assert not [k for k in arrays if k.startswith("history_")]
    loaded = csc.load(tmp_path / "m.npz")
    assert loaded.history_ == {"energy": [], "snr": [], "active": [], "n_iter": []}
    assert loaded.n_updates_ == 7
    np.testing.assert_array_equal(loaded.components_, model.components_)
    loaded.partial_fit(X[:4])  # learning goes on and records from there
    assert loaded.n_updates_ == 8 and len(loaded.history_["snr"]) == 1
    # through a PixelModel: the coder's history only; the second layers keep theirs
    pixel = csc.pretrained()
    pixel.save(tmp_path / "p.npz", history=False)
    _, arrays = io.read(tmp_path / "p.npz")
    assert not [k for k in arrays if k.startswith("history_")]
    assert arrays["layer_motion_history_energy"].shape == (2000,)
    assert csc.load(tmp_path / "p.npz").coder.history_["energy"] == []


def test_files_with_the_history_in_the_json_state_still_load(tmp_path, learned):
    """Files of format 2 (as the shipped model) carry the history as JSON lists in "state"."""
    model, _ = learned
    arrays = model.to_arrays(history=False)
    state = io.from_json_array(arrays["state"])
    arrays["state"] = io.json_array({**state, "history_": model.history_})
    np.savez(tmp_path / "v2.npz", format=np.array("csc-model"), version=np.array(2),
             kind=np.array("coder"), **arrays)
    assert _bits(csc.load(tmp_path / "v2.npz").history_) == _bits(model.history_)
    shipped = csc.pretrained()
    assert len(shipped.coder.history_["energy"]) == shipped.coder.n_updates_ == 9000
    assert len(shipped.form_units.history_["change"]) == 2000
    json.dumps(shipped.coder.history_)  # plain lists of Python numbers, as before


# ----------------------------------------------------------------------------- what save writes
def test_save_refuses_a_model_that_would_not_load_and_keeps_the_old_file(tmp_path):
    """A fitted model whose parameters were changed after fitting (here n_components) used to be
    saved over a good file and then refused by `load`."""
    X = np.random.default_rng(0).standard_normal((6, 4, 10))
    model = csc.ComplexSparseCoding(4, n_updates=1, batch_size=3, max_iter=5).fit(X)
    path = tmp_path / "m.npz"
    model.save(path)
    good = path.read_bytes()
    for change in ({"n_components": 6}, {"lam": -1.0}, {"weights": np.ones(3)}):
        bad = copy.deepcopy(model).set_params(**change)
        with pytest.raises(ValueError, match="m.npz not saved: the coder would not load"):
            bad.save(path)
        assert path.read_bytes() == good
    assert csc.load(path).n_components == 4


def test_a_pixel_model_labelled_as_a_coder_is_refused(tmp_path, pretrained_arrays):
    """Read as a coder, a pixel model's file used to load with its whitener and second layer
    silently dropped."""
    path = tmp_path / "relabelled.npz"
    io.save(path, "coder", pretrained_arrays, check=False)
    assert_refused(path, r"relabelled.npz is not a valid coder file: it holds arrays of another "
                         r"kind of model \(layer_form_")
    with pytest.raises(ValueError, match="not saved: the coder would not load"):
        io.save(path, "coder", pretrained_arrays)


def test_load_checks_the_kind_asked_for(tmp_path):
    X = np.random.default_rng(0).standard_normal((6, 4, 10))
    path = tmp_path / "coder.npz"
    csc.ComplexSparseCoding(4, n_updates=1, batch_size=3, max_iter=5).fit(X).save(path)
    assert isinstance(csc.load(path, kind="coder"), csc.ComplexSparseCoding)
    with pytest.raises(ValueError, match=r"coder.npz holds a 'coder' model, not the "
                                         r"'pixel-model' model asked for"):
        csc.load(path, kind="pixel-model")
    assert isinstance(csc.pretrained(), csc.PixelModel)
