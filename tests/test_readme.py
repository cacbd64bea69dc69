"""The README's runnable examples run as written (the long MNIST one is left to the demo command)."""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _block_after(heading: str) -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index(heading)
    m = re.compile(r"```python\n(.*?)```", re.S).search(text, start)
    assert m is not None, f"no python block after {heading!r}"
    return m.group(1)


def test_plugging_in_your_own_parts_runs_as_written(tmp_path):
    code = _block_after("#### Plugging in your own parts")
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]))
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.split("\n")
    members, accuracy = lines[0].split()
    assert int(members) == 10 and float(accuracy) > 0.9, proc.stdout  # the figures the README quotes: 10 members, 0.946
    assert lines[1] == "True"  # the loaded system answers as the saved one
    loaded, trained = lines[2].split()
    assert loaded == trained and float(loaded) > 0.85, proc.stdout
    assert (tmp_path / "cnn-system" / "manifest.json").exists() and (tmp_path / "cnn-kind-system" / "manifest.json").exists()


def test_the_serve_command_names_the_folder_the_demo_writes():
    """The set-up's serve command serves the system the first set-up command saves (its default run folder)."""
    import shlex

    from riscmoe.cli.main import _default_out, _parser

    text = (ROOT / "README.md").read_text()
    demo = re.search(r"pip install -e \. && (riscmoe run [^\n]+)", text).group(1)
    serve = re.search(r"pip install -e '\.\[serve\]' && (riscmoe serve [^\n]+)", text).group(1)
    args = _parser().parse_args(shlex.split(demo)[1:])
    served = _parser().parse_args(shlex.split(serve)[1:])
    assert served.command == "serve" and served.host == "127.0.0.1"
    assert Path(served.path) == _default_out(args, "mnist") / "system"
