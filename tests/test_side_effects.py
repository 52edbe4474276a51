"""Importing csc and calling it leave the process as they found it: environment, loggers,
plotting backend. Each check runs in a fresh interpreter so that nothing was imported before."""
import os
import subprocess
import sys

import pytest

THREAD_SETTINGS = ("OMP_WAIT_POLICY", "OPENBLAS_THREAD_TIMEOUT")


def _without_thread_settings() -> dict:
    return {k: v for k, v in os.environ.items() if k not in THREAD_SETTINGS}


def _python(code: str, env_extra: dict | None = None) -> str:
    env = _without_thread_settings()
    env.update(env_extra or {})
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_import_changes_no_environment_and_no_logger():
    out = _python("import os, logging; before = dict(os.environ); import csc, csc.analysis, "
                  "csc.training.run, csc.cli; print(dict(os.environ) == before, "
                  "logging.getLogger('csc').level, logging.getLogger().level)")
    assert out == f"True {0} {30}"  # NOTSET for csc, WARNING for the root logger


def test_figures_leave_pyplot_and_the_backend_alone():
    code = ("import sys, numpy as np, matplotlib; from csc.plotting.bases import save_bases_png, "
            "save_training_png; import tempfile, os; d = tempfile.mkdtemp(); "
            "b = np.ones((4, 5, 5)) + 1j; save_bases_png(b, os.path.join(d, 'b.png')); "
            "save_training_png({'energy': [2, 1], 'snr': [1, 2], 'active': [.5, .4]}, "
            "os.path.join(d, 't.png')); "
            "print(matplotlib.get_backend(), 'matplotlib.pyplot' in sys.modules, "
            "sorted(os.listdir(d)))")
    assert _python(code, {"MPLBACKEND": "svg"}) == "svg False ['b.png', 't.png']"


@pytest.mark.parametrize("preset, expected", [(None, "PASSIVE"), ("ACTIVE", "ACTIVE")])
def test_passive_openmp_is_applied_on_request_and_a_user_setting_wins(preset, expected):
    env = {} if preset is None else {"OMP_WAIT_POLICY": preset}
    code = ("import os; from csc.threads import prefer_passive_openmp; "
            "prefer_passive_openmp(); print(os.environ['OMP_WAIT_POLICY'])")
    assert _python(code, env) == expected


def test_import_is_lazy_so_that_a_command_sets_the_blas_spin_before_numpy_loads():
    """`import csc` loads nothing heavy; `csc.cli` imported first (a `csc-*` command) sets the
    OpenBLAS spin time, a user's value wins, and after NumPy it is too late and left alone."""
    out = _python("import sys, csc; print('numpy' in sys.modules, 'numba' in sys.modules)")
    assert out == "False False"
    first = "import os, csc.cli; print(os.environ.get('OPENBLAS_THREAD_TIMEOUT'))"
    assert _python(first) == "16"
    assert _python(first, {"OPENBLAS_THREAD_TIMEOUT": "20"}) == "20"
    assert _python("import numpy, " + first.removeprefix("import ")) == "None"
    out = _python("import csc; print(csc.encode.__module__, csc.__version__, 'stream' in dir(csc))")
    assert out == "csc.core.inference 0.1.0 True"
    # loading a model first imports the classes that read its kind of file
    out = _python("import csc; print(type(csc.pretrained()).__name__, "
                  "type(csc.load(csc.resources.pretrained_dir() / 'model.npz')).__name__)")
    assert out == "PixelModel PixelModel"


@pytest.mark.slow
@pytest.mark.parametrize("preset, warned", [({}, ["OMP_WAIT_POLICY", "OPENBLAS_THREAD_TIMEOUT"]),
                                            ({"OMP_WAIT_POLICY": "PASSIVE"},
                                             ["OPENBLAS_THREAD_TIMEOUT"]),
                                            ({"OMP_WAIT_POLICY": "PASSIVE",
                                              "OPENBLAS_THREAD_TIMEOUT": "16"}, [])])
def test_cpu_backend_warns_once_when_threads_would_spin(preset, warned):
    """The library sets nothing, but says once which setting is unset and what it costs."""
    code = ("import numpy as np, csc, os; from csc.testing.planted import random_dictionary; "
            "D = random_dictionary(4, 8, np.random.default_rng(0)); X = np.ones((1, 3, 8)); "
            "csc.encode(X, D); csc.encode(X, D); "
            "print([os.environ.get(k) for k in ('OMP_WAIT_POLICY', 'OPENBLAS_THREAD_TIMEOUT')])")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                       env={**_without_thread_settings(), **preset})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str([preset.get(k) for k in THREAD_SETTINGS])  # unchanged
    lines = [line for line in r.stderr.splitlines() if "idle threads spin" in line]
    assert len(lines) == (1 if warned else 0), r.stderr
    for name in warned:
        assert name in lines[0]
    for name in set(THREAD_SETTINGS) - set(warned):
        assert not lines or name not in lines[0]
