"""Importing csc and calling it leave the process as they found it: environment, loggers,
plotting backend. Each check runs in a fresh interpreter so that nothing was imported before."""
import os
import subprocess
import sys

import pytest


def _python(code: str, env_extra: dict | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    env.update(env_extra or {})
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_import_changes_no_environment_and_no_logger():
    out = _python("import os, logging; before = dict(os.environ); import csc, csc.analysis, "
                  "csc.video.train, csc.cli; print(dict(os.environ) == before, "
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
    code = ("import os; from csc.backends.cpu.threads import prefer_passive_openmp; "
            "prefer_passive_openmp(); print(os.environ['OMP_WAIT_POLICY'])")
    assert _python(code, env) == expected


@pytest.mark.parametrize("preset, warned", [(None, True), ("PASSIVE", False)])
def test_cpu_backend_warns_once_when_openmp_would_spin(preset, warned):
    """The library sets nothing, but says once what an unset OMP_WAIT_POLICY costs."""
    env = {} if preset is None else {"OMP_WAIT_POLICY": preset}
    code = ("import numpy as np, csc, os; from csc.testing.planted import random_dictionary; "
            "D = random_dictionary(4, 8, np.random.default_rng(0)); X = np.ones((1, 3, 8)); "
            "csc.encode(X, D); csc.encode(X, D); print(os.environ.get('OMP_WAIT_POLICY'))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                       env={**{k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"},
                            **env})
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == str(preset)  # unchanged
    assert r.stderr.count("OMP_WAIT_POLICY is not set") == (1 if warned else 0)
