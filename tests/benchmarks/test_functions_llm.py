"""benchmarks/functions_llm.py on a tiny setting: one list concept (and one more for the settings
without a model), the scripted loopback server standing in for the model."""

import json

import pytest

from benchmarks.functions_llm import BEGIN, END, SETTINGS, main, spread
from tests.functions.openai_server import Reply, ScriptedServer

# remove_last_two, the first list concept: this reply is right for it, and no name for the router.
RIGHT = "```python\ndef f(xs):\n    return xs[:-2]\n```"
USAGE = {"prompt_tokens": 300, "completion_tokens": 20}


def test_functions_llm_on_a_tiny_setting(tmp_path):
    md = tmp_path / "BENCH.md"
    md.write_text("# Benchmarks\n\nearlier sections stay\n")
    with ScriptedServer([Reply(RIGHT, usage=USAGE)] * 12) as server:
        rc = main(["--sets", "list-concepts", "--n", "1", "--n-synth", "1", "--time-limit", "0.5", "--attempts", "1", "--route-wider", "1", "--n-hard", "1",
                   "--llm-base-url", server.url, "--llm-model", "m", "--out", str(tmp_path / "out"), "--markdown", str(md)])
        served = len(server.requests)
    assert rc == 0
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    per = res["sets"]["list-concepts"]
    assert per["tasks"] == ["remove_last_two"] and len(per["extra_tasks"]) == 1
    s = {k: v["summary"] for k, v in per["settings"].items()}
    # A hard task is one of the extra ones the synthesiser alone got wrong without a library; it joins every setting.
    wrong = [r["name"] for r in per["wider"]["synthesiser-no-library"]["rows"] if not r["right"] and r["name"] in per["extra_tasks"]]
    assert per["hard_tasks"] == wrong[:1]
    n = 1 + len(per["hard_tasks"])
    assert list(s) == list(SETTINGS) and all(x["tasks"] == n for x in s.values())
    # The model alone was asked once (one attempt) and its function is right on the held-back queries.
    assert s["model"]["requests"] == n and s["model"]["made_by_model"] >= 1 and s["model"]["right_by_model"] >= 1
    assert per["settings"]["model"]["rows"][0]["creator"] == "llm" and per["settings"]["model"]["rows"][0]["right"]
    assert s["model"]["prompt_tokens"] == 300 * n and s["model"]["completion_tokens"] == 20 * n and s["model"]["latency"] > 0
    # Settings without a model send nothing; every request the server saw is counted by some setting.
    assert s["synthesiser"]["requests"] == s["synthesiser-no-library"]["requests"] == 0
    assert sum(x["requests"] for x in s.values()) + per["wider"]["router"]["summary"]["requests"] == served
    for x in s.values():
        assert 0 <= x["right"] <= x["answered"] <= x["tasks"] and x["cpu_seconds"] > 0 and x["wall"] > 0
    # The router was asked on the task, read the reply as no proposal, and the index answered.
    route = s["router"]["routing"]
    assert route["asked"] == n and route["proposed"] == 0 and route["router_right"] == 0
    assert s["router"]["requests"] == n and route["system_right"] <= n
    wide = per["wider"]
    assert wide["synthesiser"]["summary"]["tasks"] == wide["synthesiser-no-library"]["summary"]["tasks"] == 2
    assert wide["router"]["summary"]["routing"]["asked"] == 1 and wide["router"]["summary"]["requests"] == 1
    text = md.read_text()
    assert text.startswith("# Benchmarks\n\nearlier sections stay\n") and text.count(BEGIN) == 1 and text.rstrip().endswith(END)
    assert "| model | " in text and "The library's gain over the no-library baseline" in text
    assert "Routing on the library `both` grew" in text and "Routing on more tasks: 1 (these first)" in text


def test_spread_picks_evenly_and_skips():
    items = [type("T", (), {"name": str(i)})() for i in range(10)]
    assert [t.name for t in spread(items, 3)] == ["0", "3", "6"]
    assert [t.name for t in spread(items, 2, frozenset({"0"}))] == ["1", "5"]
    assert len(spread(items, 20)) == 10


@pytest.mark.parametrize("argv, message", [
    (["--sets", "nope"], "no task set named 'nope'"),
    (["--settings", "router"], "router runs on the library 'both' grows"),
    (["--settings", "model", "--llm", "none"], "the model settings need --llm NAME or --llm-base-url"),
    (["--llm-base-url", "http://127.0.0.1:1"], "give both --llm-base-url and --llm-model"),
    (["--n", "0"], "--n must be at least 1"),
    (["--route-wider", "-1"], "--route-wider must be 0 or more, got -1"),
])
def test_bad_arguments_are_refused_before_any_work(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit):
        main([*argv, "--out", str(tmp_path / "out"), "--markdown", "none"])
    assert message in capsys.readouterr().err and not (tmp_path / "out").exists()
