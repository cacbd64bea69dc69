"""riscmoe serve over a functions library: POST /solve stores what it makes; members, health and the page; bad tasks 422."""

from tests.serve.conftest import READ, WRITE, Server

TASK = {"name": "sq_plus_one", "examples": [{"args": [1], "output": 2}, {"args": [2], "output": 5}, {"args": [5], "output": 26},
                                            {"args": [-3], "output": 10}], "queries": [{"args": [10]}]}


def test_solve_members_health_and_page(tmp_path, tokens_file):
    library = tmp_path / "lib.sqlite"
    server = Server(library, tmp_path / "unused", tokens=tokens_file)
    try:
        h0 = server.health()
        assert h0["domain"] == "functions" and h0["members"] > 0  # the seed functions
        status, out = server.request("POST", "/solve", {"tasks": [TASK]}, token=WRITE)
        assert status == 200, out
        [answer] = out["answers"]
        assert answer["answers"] == [101] and answer["status"] == "created" and answer["check"] == "verified"
        again = {**TASK, "name": "again", "examples": [{"args": [3], "output": 10}, {"args": [4], "output": 17}],
                 "queries": [{"args": [6]}]}
        status, out = server.request("POST", "/solve", {"tasks": [again]}, token=WRITE)
        assert out["answers"][0]["status"] == "reused" and out["answers"][0]["answers"] == [37]
        h1 = server.health()
        assert h1["members"] == h0["members"] + 1 and h1["tasks_solved"] == 2
        status, page = server.request("GET", f"/members?offset={h1['members'] - 1}&limit=5", token=READ)
        assert page["total"] == h1["members"] and page["members"][0]["name"] == answer["function"]
        status, html = server.request("GET", "/", token=READ)
        assert status == 200 and "members-table" in html and "created" in html
        # Bad input: 422 naming the problem, nothing stored; reading tokens cannot solve; predict is not here.
        for body, says in (({"tasks": []}, "tasks"), ({"tasks": [{"name": "x"}]}, "tasks[0]: missing field \"examples\""),
                           ({"task": [TASK]}, "tasks")):
            status, err = server.request("POST", "/solve", body, token=WRITE)
            assert status == 422 and says in err["detail"], err
        assert server.request("POST", "/solve", {"tasks": [TASK]}, token=READ)[0] == 403
        assert server.request("POST", "/solve", {"tasks": [TASK]})[0] == 401
        assert server.request("POST", "/predict", {"inputs": [[1]]}, token=READ)[0] == 404
        assert server.health()["members"] == h1["members"]
    finally:
        assert server.stop()
    assert not (tmp_path / "unused").exists()  # the functions domain keeps its state in the library file
