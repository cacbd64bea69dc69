"""riscmoe serve over HTTP, in a child process on 127.0.0.1: every endpoint, tokens, bad input, and a kill -9 under load."""

import http.client
import socket
import threading
import time

import numpy as np
import pytest

from tests.serve.conftest import READ, WRITE, Server, wait_for


def _log_bytes(state):
    return (state / "feedback.log").read_bytes()


def test_every_endpoint(served):
    server, X, y, state = served
    h0 = server.health()
    assert h0["status"] == "ok" and h0["domain"] == "recognition" and h0["members"] >= 10 and h0["input_shape"] == [64]
    status, out = server.request("POST", "/predict", {"inputs": X[:20].tolist()}, token=READ)
    assert status == 200, out
    answers = out["answers"]
    assert len(answers) == 20 and len({a["id"] for a in answers}) == 20
    for a in answers:
        assert set(a) == {"id", "label", "confidence", "member", "members_run", "ran"} and 0 <= a["confidence"] <= 1
        assert len(a["ran"]) == a["members_run"] and (a["member"] in a["ran"] or a["member"] == -1)
        assert a["label"] is None or 0 <= a["label"] <= 9
    right = sum(a["label"] == int(t) for a, t in zip(answers, y[:20]))
    assert right >= 15  # a trained system, served as saved
    # Inputs shaped as the system's (8x8 here is 64) or flat are both taken.
    status, again = server.request("POST", "/predict", {"inputs": X[:3].reshape(3, 8, 8).tolist()}, token=READ)
    assert status == 422 or [a["label"] for a in again["answers"]] == [a["label"] for a in answers[:3]]
    # Feedback on answers (their inputs are remembered) and new labelled examples, in one request, waited for.
    body = {"answers": [{"id": a["id"], "label": int(t)} for a, t in zip(answers[:10], y[:10])],
            "examples": {"inputs": X[20:30].tolist(), "labels": y[20:30].tolist()}, "client": "test"}
    status, ack = server.request("POST", "/feedback?wait=true", body, token=WRITE)
    assert status == 200, ack
    assert ack["examples"] == 20 and ack["answers"] == 10 and ack["answers_right"] == sum(
        a["label"] == int(t) for a, t in zip(answers[:10], y[:10]))
    assert ack["learned"] and ack["served"] and ack["seq"] == h0["accepted_seq"] + 1
    h1 = server.health()
    assert h1["accepted_seq"] == h1["learned_seq"] == h1["served_seq"] == ack["seq"] and h1["pending"] == 0
    status, out2 = server.request("POST", "/predict", {"inputs": X[:2].tolist()}, token=READ)
    assert out2["system_version"] == ack["seq"]
    # The same answer twice is refused.
    status, err = server.request("POST", "/feedback", {"answers": body["answers"][:1]}, token=WRITE)
    assert status == 409 and "already" in err["detail"]
    # Members, a page at a time.
    status, page1 = server.request("GET", "/members?offset=0&limit=4", token=READ)
    assert status == 200 and page1["total"] == h1["members"] and len(page1["members"]) == 4
    status, page2 = server.request("GET", "/members?offset=4&limit=4", token=READ)
    assert [m["index"] for m in page2["members"]] == [4, 5, 6, 7]
    m = page1["members"][0]
    assert {"index", "label", "examples", "refused", "border", "answered", "made_at", "reason"} <= set(m)
    assert sum(r["answered"] for r in page1["members"] + page2["members"]) > 0
    # The page (its browser test is in test_page.py).
    status, html = server.request("GET", "/", token=READ)
    assert status == 200 and "<table id='members-table'>" in html and "accuracy-chart" in html


def _bad_requests(answer_id, X):
    big = [[0.0] * 64] * 5000
    return [
        ("POST", "/predict", None, b"{not json", 400, "not valid JSON"),
        ("POST", "/predict", {"inputs": []}, None, 422, "non-empty"),
        ("POST", "/predict", {"inputs": [[1, 2, 3]]}, None, 422, "64 features"),
        ("POST", "/predict", {"input": X[:1].tolist()}, None, 422, "inputs"),
        ("POST", "/predict", {"inputs": [["a"] * 64]}, None, 422, "numbers"),
        ("POST", "/predict", {"inputs": [[1e9] * 64]}, None, 422, "outlier"),
        ("POST", "/predict", {"inputs": big}, None, 413, "at most"),
        ("POST", "/feedback", None, b"[1, 2", 400, "not valid JSON"),
        ("POST", "/feedback", {}, None, 422, "give 'answers'"),
        ("POST", "/feedback", {"answers": [{"id": "nope-1", "label": 3}]}, None, 404, "unknown answer id"),
        ("POST", "/feedback", {"answers": [{"id": answer_id, "label": "three"}]}, None, 422, "integers"),
        ("POST", "/feedback", {"answers": [{"id": answer_id, "label": -1}]}, None, 422, "unknown"),
        ("POST", "/feedback", {"answers": [{"id": answer_id, "label": 3}, {"id": answer_id, "label": 3}]}, None, 422, "twice"),
        # One good answer and one unknown id: refused whole, and the good one may still be given feedback later.
        ("POST", "/feedback", {"answers": [{"id": answer_id, "label": 3}, {"id": "nope-2", "label": 3}]}, None, 404, "unknown"),
        ("POST", "/feedback", {"examples": {"inputs": X[:2].tolist(), "labels": [1]}}, None, 422, "2 labels"),
        ("POST", "/feedback", {"examples": {"inputs": X[:2].tolist(), "labels": [1, True]}}, None, 422, "integers"),
        ("POST", "/feedback", {"examples": {"inputs": [[float("nan")] * 64], "labels": [1]}}, None, 422, "finite"),
        ("POST", "/feedback", {"examples": {"inputs": X[:1].tolist(), "labels": [1]}, "extra": 1}, None, 422, "unknown field"),
        ("GET", "/members?limit=0", None, None, 422, "limit"),
        ("GET", "/members?offset=x", None, None, 422, "integer"),
    ]


def test_bad_input_is_refused_with_4xx_and_changes_nothing(served):
    server, X, y, state = served
    _, out = server.request("POST", "/predict", {"inputs": X[40:41].tolist()}, token=READ)
    answer_id = out["answers"][0]["id"]
    h0, log0 = server.health(), _log_bytes(state)
    _, before = server.request("POST", "/predict", {"inputs": X[50:80].tolist()}, token=READ)
    for method, path, body, raw, status, says in _bad_requests(answer_id, X):
        token = WRITE if path == "/feedback" else READ
        got, err = server.request(method, path, body, token=token, raw=raw)
        assert got == status and says in err["detail"], (path, body if raw is None else raw, got, err)
    # A body over the limit is refused from its length alone, before it is sent.
    host, port = server.base[len("http://"):].split(":")
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(f"POST /feedback HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {WRITE}\r\nContent-Type: application/json\r\n"
                  f"Content-Length: {64 * 1024 * 1024}\r\n\r\n[0,".encode())
        reply = b""
        while b"\r\n\r\n" not in reply or len(reply.split(b"\r\n\r\n", 1)[1]) < int(
                reply.lower().split(b"content-length: ", 1)[1].split(b"\r\n", 1)[0]):
            chunk = s.recv(65536)
            if not chunk:
                break
            reply += chunk
        reply = reply.decode()
    assert reply.startswith("HTTP/1.1 413") and "at most" in reply
    h1 = server.health()
    assert (h1["accepted_seq"], h1["learned_seq"], h1["members"]) == (h0["accepted_seq"], h0["learned_seq"], h0["members"])
    assert _log_bytes(state) == log0
    _, after = server.request("POST", "/predict", {"inputs": X[50:80].tolist()}, token=READ)
    assert [(a["label"], a["confidence"]) for a in after["answers"]] == [(a["label"], a["confidence"]) for a in before["answers"]]
    # The answer the refused requests named is still open for feedback.
    got, ack = server.request("POST", "/feedback", {"answers": [{"id": answer_id, "label": int(y[40])}]}, token=WRITE)
    assert got == 200 and ack["answers"] == 1


def test_wrong_or_missing_tokens_change_nothing(served):
    server, X, y, state = served
    _, out = server.request("POST", "/predict", {"inputs": X[60:61].tolist()}, token=READ)
    body = {"answers": [{"id": out["answers"][0]["id"], "label": int(y[60])}],
            "examples": {"inputs": X[61:63].tolist(), "labels": y[61:63].tolist()}}
    h0, log0 = server.health(), _log_bytes(state)
    for token, status in ((None, 401), ("x" * 30, 401), (READ, 403), (WRITE[:-1], 401)):
        got, err = server.request("POST", "/feedback", body, token=token)
        assert got == status, (token, got, err)
    got, _ = server.request("POST", "/feedback", body, headers={"Authorization": f"Basic {WRITE}"})
    assert got == 401
    for path in ("/members", "/"):
        assert server.request("GET", path)[0] == 401
        assert server.request("GET", path, token="y" * 30)[0] == 401
    assert server.request("POST", "/predict", {"inputs": X[:1].tolist()})[0] == 401
    assert server.request("GET", f"/?token={READ}")[0] == 200  # the page takes its token from the address too
    h1 = server.health()
    assert h1["accepted_seq"] == h0["accepted_seq"] and _log_bytes(state) == log0
    got, ack = server.request("POST", "/feedback", body, token=WRITE)
    assert got == 200 and ack["answers"] == 1  # nothing was used up by the refused attempts


def test_without_a_write_token_reads_are_open_and_nothing_is_written(saved_system, tmp_path):
    system, X, y = saved_system
    server = Server(system, tmp_path / "state", env={"RISCMOE_SERVE_READ_TOKEN": "", "RISCMOE_SERVE_WRITE_TOKEN": ""})
    try:
        status, out = server.request("POST", "/predict", {"inputs": X[:2].tolist()})
        assert status == 200
        status, err = server.request("POST", "/feedback", {"examples": {"inputs": X[:1].tolist(), "labels": [int(y[0])]}},
                                     token=WRITE)
        assert status == 403 and "without a write token" in err["detail"]
        assert server.health()["accepted_seq"] == 0
    finally:
        assert server.stop()
    assert not (tmp_path / "state" / "checkpoints").exists()  # nothing learned, nothing saved


def test_kill_minus_9_under_load_loses_nothing_acknowledged(saved_system, tmp_path, tokens_file):
    """Feedback and predictions keep arriving; kill -9; the restarted service holds every acknowledged record
    and answers as the saved system with exactly the logged records learned, in order."""
    import riscmoe
    from riscmoe import threads
    from riscmoe.serve.log import FeedbackLog
    from riscmoe.serve.service import system_identity

    system, X, y = saved_system
    state = tmp_path / "state"
    server = Server(system, state, "--checkpoint-every", "0", tokens=tokens_file)
    acked: dict[str, dict] = {}
    errors: list = []
    stop = threading.Event()

    def feed(k: int) -> None:
        rng = np.random.default_rng(k)
        n = 0
        while not stop.is_set():
            idx = rng.choice(len(X), 6, replace=False)
            client = f"feeder{k}-{n}"
            try:
                status, ack = server.request("POST", "/feedback", {"examples": {"inputs": X[idx].tolist(),
                                             "labels": y[idx].tolist()}, "client": client}, token=WRITE, timeout=10)
            except (OSError, http.client.HTTPException, ValueError):
                return  # the kill (a refused connection, a cut reply): not acknowledged
            if status != 200:
                errors.append((status, ack))
                return
            acked[client] = {"seq": ack["seq"], "labels": y[idx].tolist()}
            n += 1

    def ask() -> None:
        while not stop.is_set():
            try:
                status, out = server.request("POST", "/predict", {"inputs": X[:32].tolist()}, token=READ, timeout=10)
            except (OSError, http.client.HTTPException, ValueError):
                return
            if status != 200:
                errors.append((status, out))
                return

    workers = [threading.Thread(target=feed, args=(k,)) for k in range(3)] + [threading.Thread(target=ask) for _ in range(2)]
    for w in workers:
        w.start()
    wait_for(lambda: len(acked) >= 30, timeout=120, what="30 acknowledged feedback requests")
    server.kill()  # SIGKILL, mid-stream
    stop.set()
    for w in workers:
        w.join(timeout=30)
    assert not errors, errors[:3]
    n_acked = len(acked)
    crashed_log = (state / "feedback.log").read_bytes()  # as the killed service left it

    restarted = Server(system, state, "--checkpoint-every", "0", tokens=tokens_file)
    try:
        h = restarted.health()
        assert h["accepted_seq"] >= max(a["seq"] for a in acked.values())
        assert h["learned_seq"] == h["served_seq"] == h["accepted_seq"] and h["refused_by_learner"] == 0
        _, pred = restarted.request("POST", "/predict", {"inputs": X[:300].tolist()}, token=READ)
    finally:
        assert restarted.stop()
    # Every acknowledged record is in the log, whole, under its sequence number.
    copy = tmp_path / "crashed.log"
    copy.write_bytes(crashed_log)
    log = FeedbackLog(copy, system_identity(system))
    log.close()
    by_client = {r.client: r for r in log.records}
    for client, a in acked.items():
        assert client in by_client and by_client[client].seq == a["seq"] and by_client[client].labels == a["labels"]
    assert [r.seq for r in log.records] == list(range(1, len(log.records) + 1)) and len(log.records) == h["accepted_seq"]
    # The consistent system: the saved one with exactly the logged records learned in order (one thread, as served).
    previous = threads.current()[0]
    threads.configure(1)
    try:
        expected = riscmoe.load(system)
        for r in log.records:
            expected.partial_fit(np.asarray(r.inputs, np.float32), np.asarray(r.labels))
        expected.prepare()
        want = expected.predict_detailed(X[:300])
    finally:
        threads.configure(previous if previous is not None else "auto")
    assert [a["label"] for a in pred["answers"]] == [None if v == -1 else int(v) for v in want.labels]
    assert np.allclose([a["confidence"] for a in pred["answers"]], want.confidence, atol=1e-5)
    assert n_acked >= 30


def test_the_command_refuses_bad_settings_before_loading(saved_system, tmp_path, capsys):
    from riscmoe.cli.main import main

    system, _, _ = saved_system
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    short = tmp_path / "short"
    short.write_text("write abc\n")
    try:
        for argv, says in ((["serve", str(system), "--port", str(port)], "cannot listen on 127.0.0.1"),
                           (["serve", str(tmp_path / "nothing"), "--port", "0"], "neither a saved system"),
                           (["serve", str(system), "--tokens", str(short)], "too short"),
                           (["serve", str(system), "--port", "70000"], "--port must lie in"),
                           (["serve", str(system), "--port", "0", "--phase-length", "0"], "phase_length must be at least 1")):
            assert main(argv + ["--state", str(tmp_path / "state")]) == 2
            assert says in capsys.readouterr().err
    finally:
        taken.close()
    assert not (tmp_path / "state").exists() and not (system.parent / "system.serve").exists()


def test_a_body_streaming_past_the_limit_is_refused_with_413_and_never_reaches_the_endpoint():
    """The body limit on a body sent in chunks without a length (the ASGI messages uvicorn sends)."""
    import asyncio

    from fastapi import FastAPI, Request

    from riscmoe.serve.app import _BodyLimit

    reached = []
    inner = FastAPI()

    @inner.post("/x")
    async def x(request: Request):
        body = await request.body()
        reached.append(len(body))
        return {"n": len(body)}

    def run(chunks):
        sent = []
        messages = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]

        async def receive():
            return messages.pop(0) if messages else {"type": "http.disconnect"}

        async def send(m):
            sent.append(m)

        scope = {"type": "http", "method": "POST", "path": "/x", "headers": [(b"content-type", b"application/json")],
                 "query_string": b"", "http_version": "1.1", "scheme": "http", "server": ("127.0.0.1", 1), "client": ("127.0.0.1", 2),
                 "root_path": "", "raw_path": b"/x"}
        asyncio.run(_BodyLimit(inner, 1024)(scope, receive, send))
        return sent

    sent = run([b"1" * 600, b"1" * 600, b"1" * 600])
    assert [m["status"] for m in sent if m["type"] == "http.response.start"] == [413] and not reached
    assert b"at most 1024" in b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    sent = run([b"1" * 500, b"1" * 500])
    assert [m["status"] for m in sent if m["type"] == "http.response.start"] == [200] and reached == [1000]
