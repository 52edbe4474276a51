"""The encode benchmark (csc-benchmark) on a tiny size: its problem, its certificate, its report."""
import json

import numpy as np
import pytest

from csc.cli import benchmark
from csc.core.duality import lam_max
from csc.testing.bench.problem import LAM_RATIO, SEQ_LEN, make_problem
from csc.testing.bench.solvers import peer_module


def test_problem_is_the_planted_convex_case():
    problem = make_problem(2 * SEQ_LEN, 12, 6, seed=3, density=0.5)
    assert problem.X.shape == (2, SEQ_LEN, 12) and problem.X.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(problem.D, axis=1), 1.0, rtol=1e-12)
    assert problem.lam_max == lam_max(problem.X, problem.D)
    assert problem.lam == pytest.approx(LAM_RATIO * problem.lam_max)
    with pytest.raises(ValueError, match="multiple"):
        make_problem(SEQ_LEN + 1, 12, 6, seed=3)
    with pytest.raises(ValueError, match="no planted unit"):
        make_problem(SEQ_LEN, 12, 6, seed=3, density=0.0)


def test_tiny_run_reports_a_certified_optimum(tmp_path, capsys):
    out = tmp_path / "bench.json"
    code = benchmark.main(["--sizes", str(SEQ_LEN), "--n-features", "16", "--n-units", "32",
                           "--json", str(out)])
    assert code == 0
    report = json.loads(out.read_text())
    size = report["sizes"][0]
    ref = size["reference"]
    # the reference codes' duality gap bounds their distance to the optimum
    assert 0 <= ref["certified_rel_gap"] < 1e-6
    assert ref["dual_lower_bound"] <= ref["e_star"] <= ref["energy"]
    assert size["solvers"]["csc"]["time_to_target"] is not None
    for peer in ("spams", "skglm"):
        status = size["solvers"][peer]["status"]
        assert status == ("ok" if peer_module(peer) else "not installed")
    assert size["csc_memory"]["peak_extra_mib"] >= 0
    printed = capsys.readouterr().out
    assert f"| csc | {SEQ_LEN} |" in printed and f"wrote {out}" in printed


def test_bad_settings_are_one_line_errors(capsys):
    for args, fragment in [(["--sizes", "100"], "--sizes"),
                           (["--sizes", "64", "--n-units", "2"], "no planted unit")]:
        assert benchmark.main(args) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and fragment in err, err
