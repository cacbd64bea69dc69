"""The benchmark harness on small real data (scikit-learn digits): it must not rot."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from benchmarks.specs import QUICK, build, stage_eval_index
from benchmarks.suite import not_run_rows, plan, table
from benchmarks import systems
from benchmarks.worker import run_job

ROOT = Path(__file__).resolve().parents[2]


def test_streams_and_evaluation_sets_match():
    split = build(QUICK[0], seed=0)
    assert len(split.eval_sets) == 5 and stage_eval_index(split) == [0, 1, 2, 3, 4]
    # Each evaluation set holds exactly the test examples of its group's classes.
    for (name, X, y), group in zip(split.eval_sets, split.stream.groups):
        assert set(np.unique(y).tolist()) == set(group) and len(X) == len(y)
    perm = build(QUICK[1], seed=0)
    assert len(perm.eval_sets) == 2
    X0, X1 = perm.eval_sets[0][1], perm.eval_sets[1][1]
    assert X0.shape == X1.shape and not np.array_equal(X0, X1)
    assert np.allclose(np.sort(X0.reshape(len(X0), -1), 1), np.sort(X1.reshape(len(X1), -1), 1))


def test_a_job_reports_every_figure():
    [r] = run_job("slda-random-conv", "split-digits", "quick", seed=0, log=lambda s: None)
    assert r["final_accuracy"] > 0.9 and 0 <= r["average_forgetting"] < 0.2
    matrix = np.array(r["accuracy_matrix"], dtype=float)
    # Every set is scored after every stage; classes not yet seen cannot be answered.
    assert matrix.shape == (5, 5) and matrix[0, 1] == 0.0 and not np.isnan(matrix).any()
    for key in ("train_seconds", "wall_seconds", "peak_rss_mb", "params_total", "params_per_input"):
        assert r[key] > 0, key
    # The final accuracy is the last stage's pass over the whole test set: the last row,
    # weighted by each set's size.
    sizes = [len(y) for _, _, y in build(QUICK[0], seed=0).eval_sets]
    assert r["final_accuracy"] == pytest.approx(np.average(matrix[-1], weights=sizes), abs=1e-12)
    assert r["test_examples"] == sum(sizes)


def test_plan_filters_and_unknown_stream_is_refused():
    jobs = plan("quick", ["split-digits"], ["riscmoe-best"], None)
    assert [(j.system, j.stream, j.seed) for j in jobs] == [("riscmoe-best", "split-digits", 0)]
    standard = plan("standard", None, None, None)
    assert any(j.system.startswith("avalanche-") for j in standard)
    # Several policies on one stream and seed share one training run.
    assert ("riscmoe", "split-mnist", 1) in [(j.system, j.stream, j.seed) for j in standard]
    assert not any(j.system in ("riscmoe-best", "riscmoe-first", "riscmoe-mixture") and j.stream == "split-mnist" for j in standard)
    # The mission's other choices train otherwise: each runs alone, beside them.
    for name in ("riscmoe-creator-member", "riscmoe-phases"):
        assert [j.seed for j in standard if j.system == name and j.stream == "split-mnist"] == [0, 1, 2]
        assert [j.system for j in plan("quick", ["split-digits"], [name], None)] == [name]
    assert [j.seed for j in standard if j.system == "joint-mlp-x4" and j.stream == "split-mnist"] == [0]
    # A pair left out on purpose is not run, and the table says so and why.
    batch1 = next(j for j in standard if j.stream == "mnist-batch1" and j.system.startswith("avalanche-"))
    assert "ewc" not in batch1.system.split("-", 1)[1].split("+") and "lwf" in batch1.system
    rows = not_run_rows("standard", ["mnist-batch1"], None)
    assert [r["system"] for r in rows] == ["avalanche-ewc", "avalanche-icarl"]
    assert "diverged" in rows[0]["skipped"] and "30 minutes" in rows[1]["skipped"]
    # The split streams keep all six Avalanche strategies.
    split = next(j for j in standard if j.stream == "split-mnist" and j.system.startswith("avalanche-"))
    assert split.system == "avalanche-naive+replay+ewc+lwf+icarl+gdumb"
    assert not_run_rows("standard", ["split-mnist"], None) == [] and not_run_rows("quick", None, None) == []
    with pytest.raises(ValueError, match="not in the quick suite"):
        run_job("riscmoe-best", "split-mnist", "quick", seed=0)


def test_one_training_run_is_scored_under_every_policy():
    rs = run_job("riscmoe", "split-digits", "quick", seed=0, log=lambda s: None)
    assert [r["system"] for r in rs] == ["riscmoe-best", "riscmoe-first", "riscmoe-mixture"]
    assert len({r["train_seconds"] for r in rs}) == 1  # one training run
    # Mixture runs several models per input, the cascades fewer: the policies really differ.
    runs = {r["system"]: r["runs_mean"] for r in rs}
    assert runs["riscmoe-mixture"] > runs["riscmoe-best"] > 0.9
    assert all(r["final_accuracy"] > 0.85 for r in rs)


def test_the_policies_share_the_refit_after_each_stage(monkeypatch):
    """Refits and pair solves after a stage happen before any policy is scored (counted in
    every policy's wall time), not while the first one answers."""
    from benchmarks import systems, worker
    from riscmoe.meta import GaussianMetaBank

    scoring, during = [None], []
    use, partial_fit, refit, solve = worker.use, systems.RiscSystem.partial_fit, GaussianMetaBank._refit, GaussianMetaBank._solve_pairs

    def scored(system, variant):
        scoring[0] = variant
        use(system, variant)

    def learning(self, X, y):
        scoring[0] = None
        partial_fit(self, X, y)

    def counted(fn):
        def wrapper(self, *args, **kwargs):
            during.append(scoring[0])
            return fn(self, *args, **kwargs)
        return wrapper

    monkeypatch.setattr(worker, "use", scored)
    monkeypatch.setattr(systems.RiscSystem, "partial_fit", learning)
    monkeypatch.setattr(GaussianMetaBank, "_refit", counted(refit))
    monkeypatch.setattr(GaussianMetaBank, "_solve_pairs", counted(solve))
    run_job("riscmoe", "split-digits", "quick", seed=0, log=lambda s: None)
    assert during and all(v is None for v in during), sorted(set(map(str, during)))


def test_table_shows_skipped_peers():
    rows = [{"system": "avalanche-replay", "stream": "split-digits", "seed": 0, "skipped": "Avalanche is not installed"},
            {"system": "slda-pixels", "stream": "split-digits", "seed": 0, "final_accuracy": 0.9, "average_forgetting": 0.01,
             "members": None, "runs_mean": None, "runs_p95": None, "meta_seconds": None, "model_seconds": 0.1,
             "params_total": 100, "params_per_input": 10, "train_seconds": 1.0, "wall_seconds": 2.0, "peak_rss_mb": 300.0}]
    text = "\n".join(table(rows, "quick"))
    assert "Avalanche is not installed" in text and "| slda-pixels | 1 | 90.00 |" in text
    assert "| avalanche-replay | - | Avalanche is not installed |" in text  # no seed ran


def test_quick_suite_end_to_end(tmp_path):
    """The smoke variant of the suite, as a user runs it: every job, results, table, plots."""
    out = tmp_path / "bench"
    md = tmp_path / "BENCH.md"
    r = subprocess.run([sys.executable, "-m", "benchmarks", "--suite", "quick", "--out", str(out), "--markdown", str(md)],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    results = json.loads((out / "results.json").read_text())["results"]
    systems = {x["system"] for x in results}
    assert {"riscmoe-best", "riscmoe-first", "riscmoe-mixture", "slda-pixels", "joint-mlp-x1"} <= systems
    assert all("final_accuracy" in x for x in results)
    best = [x for x in results if x["system"] == "riscmoe-best" and x["stream"] == "split-digits"][0]
    assert best["final_accuracy"] > 0.9 and best["members"] >= 10 and best["runs_mean"] <= 2
    for png in ("accuracy.png", "policies.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    text = md.read_text()
    assert "<!-- suite:begin -->" in text and "#### split-digits" in text and "riscmoe-best" in text

    # --render runs nothing and writes the same table (command, date, timings kept) and plots again.
    md.write_text("# notes\n")
    for png in ("accuracy.png", "policies.png"):
        (out / png).unlink()
    r = subprocess.run([sys.executable, "-m", "benchmarks", "--suite", "quick", "--out", str(out), "--markdown", str(md), "--render"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert md.read_text() == "# notes\n\n" + text[text.index("<!-- suite:begin -->"):]
    assert all((out / png).exists() for png in ("accuracy.png", "policies.png"))
    r = subprocess.run([sys.executable, "-m", "benchmarks", "--suite", "quick", "--out", str(out), "--markdown", "none", "--render"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "wrote the table" not in r.stdout and not (ROOT / "none").exists()  # 'none': no file
    r = subprocess.run([sys.executable, "-m", "benchmarks", "--suite", "quick", "--out", str(tmp_path / "none"), "--render"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 2 and "does not exist" in r.stderr


def test_evaluating_a_phased_system_leaves_its_phases_where_its_schedule_puts_them():
    """The harness's prepare() before each evaluation must not end a phase of the learner."""
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    order = np.argsort(y, kind="stable")[:600]
    evaluated, alone = (systems.RiscSystem("best", seed=0, feedback="phases", min_examples=16) for _ in range(2))
    for s in (evaluated, alone):
        s.clf.set_params(feedback__phase_length=200)
    for i in range(0, len(order), 50):
        idx = order[i:i + 50]
        evaluated.partial_fit(X[idx], y[idx])
        alone.partial_fit(X[idx], y[idx])
        if i % 150 == 100:  # evaluations off the phase grid (phases end every 200 examples)
            evaluated.prepare()
            assert len(evaluated.predict(X[:10])) == 10
            assert evaluated._answering is not evaluated.clf
    evaluated.prepare()
    alone.prepare()
    assert evaluated.clf.n_seen_ == alone.clf.n_seen_ == 600
    np.testing.assert_array_equal(evaluated.predict(X), alone.predict(X))
    np.testing.assert_array_equal(evaluated.clf.predict_proba(X), alone.clf.predict_proba(X))
