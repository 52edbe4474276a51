"""The encode benchmark (csc-benchmark) on a tiny size: its problem, its certificate, its report,
its learning comparison with scikit-learn, its goals and its GPU floor (through the stand-in)."""
import json
import math

import numpy as np
import pytest
from conftest import toolchain_missing

from csc.cli import benchmark
from csc.core.duality import lam_max
from csc.testing.bench import goals as bench_goals
from csc.testing.bench.learning import (
    SKLEARN_DEFAULT_ALPHA,
    learning_batches,
    rel_error,
    sklearn_learning,
)
from csc.testing.bench.problem import LAM_RATIO, SEQ_LEN, make_problem
from csc.testing.bench.solvers import peer_module
from csc.testing.bench.suite import PRIOR_ITERS, PRIOR_SETTINGS, environment
from csc.testing.bench.timing import TARGET_REL, gemm_floor_best
from csc.testing.host_kernels import nvcc_available
from csc.testing.strict_cuda import DEVICE_NAME
from csc.testing.strict_cupy import install


def _positive(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x) and x > 0


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


@pytest.mark.slow
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
    csc_run = size["solvers"]["csc"]
    # csc reached the target: a positive time, and its best codes within it of E*
    assert csc_run["time_to_target"] > 0 and csc_run["same_problem_verified"]
    assert 0 <= csc_run["best_rel_err"] <= TARGET_REL
    for peer in ("spams", "skglm"):
        status = size["solvers"][peer]["status"]
        assert status == ("ok" if peer_module(peer) else "not installed")
    assert size["csc_memory"]["peak_extra_mib"] > 0
    printed = capsys.readouterr().out
    assert f"| csc | {SEQ_LEN} |" in printed and f"wrote {out}" in printed

    # the machine described
    env = report["environment"]
    assert env["cpu_model"] and env["cpus"] >= 1 and _positive(env["memory_gib"])
    assert env["gpu"] is None and env["backend"] == "cpu" and size["gemm"]["gemm_device"] == "cpu"

    # time per iteration by prior: the difference of two budgets, setup cancelled
    floor = size["gemm"]["floor_s_per_iter"]
    short, long = PRIOR_ITERS
    assert set(size["csc_by_prior"]) == set(PRIOR_SETTINGS)
    for r in size["csc_by_prior"].values():
        t = r["seconds"]
        assert _positive(t[str(short)]) and _positive(t[str(long)])
        assert r["per_iter"] == pytest.approx((t[str(long)] - t[str(short)]) / (long - short))
        assert r["floor_ratio"] == pytest.approx(r["per_iter"] / floor)
    assert f"(t({long}) − t({short})) / {long - short}" in printed

    # learning against scikit-learn: equal data, batches and real atoms
    lv = size["learning_vs_sklearn"]
    assert lv["status"] == "ok"
    st = lv["settings"]
    assert st["real_atoms"] == st["sklearn"]["n_components"] == 2 * 32
    assert st["sklearn"]["alpha"] == SKLEARN_DEFAULT_ALPHA
    assert st["sklearn"]["fit_algorithm"] == "cd"
    assert st["frames_per_batch"] == SEQ_LEN and st["timed_updates"] >= 1
    sk = lv["sklearn"]
    assert _positive(sk["frames_per_s"]) and 0 <= sk["rel_error"] <= 1 + 1e-6
    assert lv["sklearn_codes_nothing"] == (sk["active_fraction"] == 0)
    assert {(r["prior"], r["rule"]) for r in lv["csc"]} == {
        (p, r) for p in ("default", "paper") for r in ("online", "sgd")}
    for r in [sk] + lv["csc"]:  # the rate of the median timed update
        assert len(r["update_seconds"]) == st["timed_updates"]
        assert r["frames_per_s"] == pytest.approx(
            st["frames_per_batch"] / np.median(r["update_seconds"]))
    for r in lv["csc"]:
        assert _positive(r["frames_per_s"]) and 0 <= r["rel_error"] < 1
        assert r["ratio"] == pytest.approx(r["frames_per_s"] / sk["frames_per_s"])
        assert r["error_ok"] == (r["rel_error"] <= sk["rel_error"])
        assert f"| {r['prior']} | {r['rule']} | {r['frames_per_s']:.0f} |" in printed

    # the goals, printed last (before the file is named)
    rows = report["goals"]
    texts = [g["goal"] for g in rows]
    for fragment in ["l1: time/iter <= 1.2x", "cauchy + l2 slowness: time/iter <= 1.5x",
                     "faster than spams", "faster than skglm", "encode peak extra memory",
                     "learning (default prior, online)", "learning (paper prior, sgd)"]:
        assert sum(fragment in t for t in texts) == 1, fragment
    assert all(g["met"] in (True, False, None) for g in rows)
    for peer in ("spams", "skglm"):
        row = next(g for g in rows if f"faster than {peer}" in g["goal"])
        assert (row["measured"] == "not installed") == (peer_module(peer) is None)
    goals_at = printed.index("| goal | measured | met |")
    assert goals_at > printed.index("| frames | learner |")
    for g in rows:
        assert f"| {g['goal']} | {g['measured']} |" in printed[goals_at:]


def test_bad_settings_are_one_line_errors(capsys):
    for args, fragment in [(["--sizes", "100"], "--sizes"),
                           (["--sizes", "64", "--n-units", "2"], "no planted unit"),
                           (["--sklearn-alpha", "0"], "--sklearn-alpha")]:
        assert benchmark.main(args) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and fragment in err, err


def test_sklearn_error_is_recomputed_independently():
    """The error of sklearn's dictionary equals ‖X − sparse_encode(X) · D‖² / ‖X‖², and the
    learner really was fed the batches (an alpha at which it codes something)."""
    from sklearn.decomposition import MiniBatchDictionaryLearning, sparse_encode

    assert MiniBatchDictionaryLearning().alpha == SKLEARN_DEFAULT_ALPHA
    problem = make_problem(2 * SEQ_LEN, 12, 6, seed=1, density=0.5)
    X, batches = learning_batches(problem, batch_sequences=4, n_updates=3)
    assert X.shape == (8, 16, 12) and len(batches) == 4 and batches[0].shape == (4, 16, 12)
    np.testing.assert_array_equal(batches[2], X[:4])  # cycling over the data
    alpha = problem.lam
    res = sklearn_learning(X, batches, 12, alpha, seed=0)
    model = res["model"]
    assert model.n_steps_ == 4 and model.components_.shape == (12, 12)
    frames = X.reshape(-1, 12).astype(np.float64)
    codes = sparse_encode(frames, model.components_.astype(np.float64), algorithm="lasso_cd",
                          alpha=alpha, max_iter=1000)
    expected = np.linalg.norm(frames - codes @ model.components_) ** 2 / np.linalg.norm(frames) ** 2
    assert 0 < res["active_fraction"] and 0 < res["rel_error"] < 1
    assert res["rel_error"] == pytest.approx(expected, rel=1e-3)
    assert rel_error(frames, 0 * frames) == 1.0 and rel_error(frames, frames) == 0.0


def _size(n, by_prior, ratios, memory, learning=None):
    """A report's size as the goals read it."""
    solvers = {p: ({"status": "not installed", "ratio_vs_csc": None, "time_to_target": None}
                   if r is None else {"status": "ok", "ratio_vs_csc": r, "time_to_target": 1.0})
               for p, r in ratios.items()}
    size = {"n_frames": n, "solvers": solvers, "csc_memory": memory,
            "csc_by_prior": {k: {"floor_ratio": v} for k, v in by_prior.items()}}
    if learning is not None:
        size["learning_vs_sklearn"] = learning
    return size


def test_goals_are_judged_at_the_largest_size_and_every_size():
    mem = {"traced_in_code_arrays": 5.5, "extra_in_code_arrays": 9.0}
    learning = {"status": "ok", "settings": {"sklearn": {"alpha": 1.0}},
                "sklearn": {"rel_error": 0.5}, "sklearn_codes_nothing": False,
                "csc": [{"prior": "default", "rule": "online", "ratio": 30.0, "rel_error": 0.1,
                         "goal_ratio": 25.0, "met": True}]}
    small = _size(64, {"l1": 9.0}, {"spams": 20.0, "skglm": 60.0}, {"error": "x"})
    large = _size(128, {"l1": 1.1, "cauchy": 1.6, "l1 + l2 slowness": -0.1},
                  {"spams": 9.0, "skglm": None}, mem, learning)
    rows = {g["goal"].split(":")[0] if "time/iter" in g["goal"] else g["goal"]: g
            for g in bench_goals.goals([small, large])}
    assert rows["l1"]["met"] is True and rows["cauchy"]["met"] is False  # N=128 only
    assert rows["l1 + l2 slowness"]["met"] is None  # a negative difference is noise
    spams = next(g for k, g in rows.items() if "spams" in k)
    assert spams["met"] is False and spams["measured"] == "N=64: 20.0x, N=128: 9.0x"
    skglm = next(g for k, g in rows.items() if "skglm" in k)
    assert skglm["met"] is None and skglm["measured"] == "not installed"
    memory = next(g for k, g in rows.items() if "memory" in k)
    assert memory["met"] is True and memory["measured"].startswith("5.5")
    learn = next(g for k, g in rows.items() if k.startswith("learning"))
    assert learn["met"] is True and "30.0x" in learn["measured"]


def test_gemm_floor_runs_on_the_gpu_backend():
    """With --backend gpu the floor is timed with the backend's array module (here the strict
    CuPy stand-in, which refuses NumPy arrays), and the device is named."""
    if not nvcc_available():  # the stand-in's availability probe runs a kernel
        toolchain_missing("nvcc not found: the stand-in's kernels run the host emulation")
    with install():
        g = gemm_floor_best(SEQ_LEN, 16, 8, 2, 0, "gpu")
        name = environment("gpu")["gpu"]
    assert g["gemm_device"] == "gpu" and len(g["variants"]) == 1 and "gemm_note" not in g
    assert _positive(g["floor_s_per_iter"]) and _positive(g["gflops"])
    assert name == DEVICE_NAME.decode()


def test_gemm_floor_without_a_gpu_says_so():
    g = gemm_floor_best(SEQ_LEN, 16, 8, 1, 0, "gpu")
    if g["gemm_device"] == "gpu":
        pytest.skip("a GPU is usable here")
    assert g["gemm_note"].startswith("timed on the host: backend='gpu' is not available")
