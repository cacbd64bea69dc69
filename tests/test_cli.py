import json
import subprocess
import sys


def test_run_and_inspect_on_digits(tmp_path):
    out = tmp_path / "run"
    r = subprocess.run(
        [sys.executable, "-m", "riscmoe.cli.main", "run", "--dataset", "digits", "--batch-size", "32",
         "--no-progress", "--out", str(out)],
        capture_output=True, text=True, check=True,
    )
    assert "final accuracy" in r.stdout
    m = json.loads((out / "metrics.json").read_text())
    assert m["final_accuracy"] > 0.9 and 10 <= m["members"] <= 12
    assert len(m["accuracy_matrix"]) == 5
    # Each meta-model costs about 2F multiply-adds against a model's 64F: the whole bank of
    # ten or so costs a fraction of one member's model.
    assert 0 < m["cost_per_input"]["meta_bank_over_one_model"] < 0.4
    for png in ("accuracy.png", "members.png", "routing.png"):
        assert (out / png).read_bytes()[:4] == b"\x89PNG"
    r = subprocess.run([sys.executable, "-m", "riscmoe.cli.main", "inspect", str(out / "system")],
                       capture_output=True, text=True, check=True)
    assert "new label" in r.stdout and r.stdout.count("\n") >= 12
    assert "meta-models cost" in r.stdout and "border" in r.stdout


def test_cli_clear_error_on_bad_dataset(tmp_path):
    r = subprocess.run([sys.executable, "-m", "riscmoe.cli.main", "run", "--dataset", "nope", "--out", str(tmp_path)],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "nope" in r.stderr
