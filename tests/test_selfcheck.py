"""`python -m csc.selfcheck`: kernel-source and NVRTC checks, honest about not checking without a
GPU, and its verdict logic."""
import math
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import toolchain_missing

from csc import selfcheck
from csc.backends import backend as backend_mod
from csc.backends.cuda import ops, source
from csc.core import inference
from csc.selfcheck import PriorResult, report

ROOT = Path(__file__).resolve().parents[1]


def _run(*args):
    return subprocess.run([sys.executable, "-m", "csc.selfcheck", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.toolchain
def test_module_run_without_gpu_says_not_checked():
    ok, reason = ops.available()
    r = _run()
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines[0].startswith("csc selfcheck: kernel sources: ok")
    assert "NVRTC: ok" in lines[1] or "NVRTC NOT checked" in lines[1]
    if ok:  # a machine with a GPU runs the real comparison
        assert "GPU checked: all" in r.stdout
        return
    assert len(lines) == 3 and "GPU NOT checked" in lines[2] and reason in lines[2]
    assert "agree" not in r.stdout
    r = _run("--require-gpu")
    assert r.returncode == 1 and "GPU NOT checked" in r.stdout


def test_kernel_source_check_catches_a_mismatch(monkeypatch):
    real = source.kernel_source()
    assert selfcheck.check_kernel_sources()[0]
    monkeypatch.setattr(source, "kernel_source",
                        lambda: real.replace("int n_seq, int n_frames", "int n_frames, int n_seq"))
    ok, line = selfcheck.check_kernel_sources()
    assert not ok and "FAILED" in line and "parameters differ" in line

    def missing():
        raise FileNotFoundError("CUDA source /x/fused.cu not found")

    monkeypatch.setattr(source, "kernel_source", missing)
    ok, line = selfcheck.check_kernel_sources()
    assert not ok and "/x/fused.cu" in line


def test_nvrtc_check_catches_a_compile_error_and_a_missing_kernel(monkeypatch):
    if source.find_nvrtc() is None:
        toolchain_missing("libnvrtc not found: cannot run the NVRTC check")
    real = source.kernel_source()
    assert selfcheck.check_nvrtc()[0] is True
    monkeypatch.setattr(source, "kernel_source", lambda: real + "\nthis is not C++;\n")
    ok, line = selfcheck.check_nvrtc()
    assert ok is False and "FAILED for compute_80" in line
    renamed = real.replace("csc_recon_step(", "csc_recon_step_renamed(")
    monkeypatch.setattr(source, "kernel_source", lambda: renamed)
    ok, line = selfcheck.check_nvrtc()
    assert ok is False and "csc_recon_step" in line


def test_missing_nvrtc_is_reported_and_fails_only_when_required(monkeypatch, capsys):
    monkeypatch.setattr(source, "find_nvrtc", lambda: None)
    monkeypatch.setattr(ops, "available", lambda: (False, "no GPU in this test"))
    monkeypatch.delenv("CSC_REQUIRE_NVCC", raising=False)
    assert selfcheck.main([]) == 0
    assert "NVRTC NOT checked" in capsys.readouterr().out
    assert selfcheck.main(["--require-nvrtc"]) == 1
    monkeypatch.setenv("CSC_REQUIRE_NVCC", "1")
    assert selfcheck.main([]) == 1


def good(label="l1 + none slowness", **over):
    r = PriorResult(label, energy_cpu=100.0, energy_gpu=100.0 + 1e-3, max_code_diff=1e-5,
                    code_scale=2.0, time_cpu=0.5, time_gpu=0.05, iters_cpu=40, iters_gpu=40)
    for k, v in over.items():
        setattr(r, k, v)
    return r


def test_report_agreement():
    ok, lines = report([good(), good("cauchy + l2 slowness", energy_gpu=99.995)], rtol=1e-4)
    assert ok
    assert lines[1].endswith("ok") and lines[2].endswith("ok")
    assert "1.00e-05" in lines[1] and "40/40" in lines[1]
    assert lines[-1].startswith("GPU checked: all 2 priors agree")


@pytest.mark.parametrize("bad, shown", [
    (dict(energy_gpu=100.1), "DISAGREE"),  # rel diff 1e-3
    (dict(energy_gpu=math.nan), "DISAGREE"),
    (dict(error="ValueError: backend='gpu' is not available"), "FAILED: ValueError"),
])
def test_report_disagreement(bad, shown):
    ok, lines = report([good(), good("l1 + l1 slowness", **bad)], rtol=1e-4)
    assert not ok
    assert lines[1].endswith("ok") and shown in lines[2]
    assert lines[-1].startswith("GPU checked: FAILED — 1 of 2 priors")


def test_report_empty_is_not_agreement():
    ok, lines = report([])
    assert not ok and "FAILED" in lines[-1]


def test_run_checks_with_gpu_standing_in_for_cpu(monkeypatch):
    """The comparison machinery end to end, with backend='gpu' resolved to the CPU."""
    real = backend_mod.get_backend
    monkeypatch.setattr(inference, "get_backend",
                        lambda name: real("cpu" if name == "gpu" else name))
    results = selfcheck.run_checks(n_sequences=2, n_frames=4, n_features=8, n_components=4,
                                   max_iter=50)
    assert [r.label for r in results] == [selfcheck.prior_label(p) for p in selfcheck.PRIORS]
    for r in results:
        assert r.error is None and r.energy_cpu > 0 and r.rel_energy_diff == 0.0
        assert r.max_code_diff == 0.0 and r.iters_cpu == r.iters_gpu >= 1
    assert report(results)[0]


def test_run_checks_records_gpu_failures(monkeypatch):
    real = backend_mod.get_backend

    def get_backend(name):
        if name == "gpu":
            raise ValueError("backend='gpu' is not available: test")
        return real(name)

    monkeypatch.setattr(inference, "get_backend", get_backend)
    results = selfcheck.run_checks(n_sequences=2, n_frames=4, n_features=8, n_components=4,
                                   max_iter=5)
    assert all(r.error == "ValueError: backend='gpu' is not available: test" for r in results)
    assert not report(results)[0]


@pytest.mark.parametrize("energy_gpu, code", [(100.0, 0), (101.0, 1)])
def test_main_exit_status_with_a_gpu(monkeypatch, capsys, energy_gpu, code):
    monkeypatch.setattr(ops, "available", lambda: (True, "1 CUDA device(s); current: fake"))
    monkeypatch.setattr(selfcheck, "run_checks",
                        lambda seed=0: [good(energy_gpu=energy_gpu)])
    assert selfcheck.main([]) == code
    out = capsys.readouterr().out
    assert "fake" in out and "GPU checked" in out and "NOT checked" not in out

