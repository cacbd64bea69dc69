"""RecognitionService in process: served copies swapped whole, phases, checkpoints and restarts."""

import copy
import time

import numpy as np
import pytest

from riscmoe.serve.service import RecognitionService, RequestError


def _examples(X, y, a, b):
    return {"examples": {"inputs": X[a:b].tolist(), "labels": [int(v) for v in y[a:b]]}}


def test_the_served_system_is_a_copy_replaced_whole(saved_system, tmp_path):
    system, X, y = saved_system
    s = RecognitionService(system, tmp_path / "state", checkpoint_every=0)
    try:
        first = s.system
        assert first is not s.learner
        ack = s.feedback(_examples(X, y, 0, 20), wait=True)
        assert ack["served"] and s.system is not first and s.served_seq == 1
        assert first.n_seen_ + 20 == s.system.n_seen_  # the old copy is untouched: a request holding it saw no change
        with pytest.raises(RequestError) as exc:
            s.feedback({"examples": {"inputs": X[:2].tolist(), "labels": [1, "a"]}})
        assert exc.value.status == 422 and s.log.last_seq == 1
    finally:
        s.close()


def test_phases_serve_only_at_phase_ends(saved_system, tmp_path):
    system, X, y = saved_system
    s = RecognitionService(system, tmp_path / "state", learn="phases", phase_length=40, checkpoint_every=0)
    try:
        served = s.system
        ack = s.feedback(_examples(X, y, 0, 25), wait=True)
        assert ack["learned"] and not ack["served"] and s.system is served  # half a phase: answers unchanged
        ack = s.feedback(_examples(X, y, 25, 50), wait=True)
        assert ack["learned"]
        assert s.system is not served and s.served_seq == 2 and s.system.n_seen_ == served.n_seen_ + 50
    finally:
        s.close()


def test_checkpoints_cut_the_log_and_a_restart_answers_alike(saved_system, tmp_path):
    system, X, y = saved_system
    state = tmp_path / "state"
    s = RecognitionService(system, state, checkpoint_every=2)
    try:
        for i in range(3):
            s.feedback(_examples(X, y, 10 * i, 10 * i + 10), wait=True)
        answer = s.predict(X[100:101].tolist())["answers"][0]["id"]
        before = s.predict(X[100:200].tolist())["answers"]
    finally:
        s.close()
    assert [p.name for p in (state / "checkpoints").iterdir()] == ["seq-000000000003"]
    assert (state / "feedback.log").read_text().count("\n") == 1  # the header alone: the checkpoint holds every record
    again = RecognitionService(system, state, checkpoint_every=2)
    try:
        assert again.health()["learned_seq"] == 3 and again.log.last_seq == 3
        after = again.predict(X[100:200].tolist())["answers"]
        assert [a["label"] for a in after] == [a["label"] for a in before]
        assert np.allclose([a["confidence"] for a in after], [a["confidence"] for a in before], atol=1e-6)
        with pytest.raises(RequestError, match="before this service restarted") as exc:
            again.feedback({"answers": [{"id": answer, "label": 1}]})
        assert exc.value.status == 404
        assert again.feedback(_examples(X, y, 40, 45), wait=True)["seq"] == 4  # numbering goes on
    finally:
        again.close()


def test_bad_settings_are_refused_before_anything_is_made(saved_system, tmp_path):
    system, _, _ = saved_system
    for kwargs, says in (({"learn": "sometimes"}, "learn must be"), ({"phase_length": 0}, "phase_length"),
                         ({"max_batch": 0}, "max_batch")):
        with pytest.raises(ValueError, match=says):
            RecognitionService(system, tmp_path / "state", **kwargs)
    assert not (tmp_path / "state").exists()


def test_a_system_learning_in_phases_serves_whole_phases(digits_flat, tmp_path):
    """The saved system's own schedule is kept: with feedback='phases', each served copy has its phase consolidated."""
    from riscmoe import RiscClassifier

    X, y = digits_flat
    clf = RiscClassifier(seed=0, feedback="phases").set_params(feedback__phase_length=256)
    for i in range(0, 640, 64):
        clf.partial_fit(X[i: i + 64], y[i: i + 64])
    clf.save(tmp_path / "system")
    s = RecognitionService(tmp_path / "system", tmp_path / "state", checkpoint_every=0)
    try:
        assert s.feedback(_examples(X, y, 700, 740), wait=True)["served"]
        served, learner = s.system, s.learner
        assert any(len(m.held) for m in learner.collection_.members)  # the learner is mid-phase...
        assert not any(len(m.held) for m in served.collection_.members)  # ...the served copy is not
        assert served.n_seen_ == learner.n_seen_
    finally:
        s.close()


def _replayed(system, X, y, spans):
    """The saved system with the examples of ``spans`` learned in order, prepared: what is served after them."""
    import riscmoe

    clf = riscmoe.load(system)
    out = [copy.deepcopy(clf).prepare()]
    for a, b in spans:
        clf.partial_fit(X[a:b].reshape(b - a, *clf.input_shape_), y[a:b])
        out.append(copy.deepcopy(clf).prepare())
    return out


SPANS = [(0, 12), (12, 30), (30, 36), (36, 60)]


def _labels(p):
    """A prediction's labels as the service answers them ("unknown", -1, is None)."""
    return [None if v == -1 else v for v in p.labels.tolist()]


def test_what_is_served_is_the_saved_system_and_every_record_learned_in_order(saved_system, tmp_path):
    system, X, y = saved_system
    s = RecognitionService(system, tmp_path / "state", checkpoint_every=0)
    try:
        for a, b in SPANS:
            assert s.feedback(_examples(X, y, a, b), wait=True)["served"]
        got = s.predict(X[100:300].tolist())["answers"]
        swap = s.health()["last_swap"]  # (members were shared with the copy before: the path under test)
        assert swap["members_shared"] > 0 and swap["members_shared"] + swap["members_copied"] == s.system.n_experts_
    finally:
        s.close()
    want = _replayed(system, X, y, SPANS)[-1].predict_detailed(X[100:300])
    assert [a["label"] for a in got] == _labels(want) and [a["member"] for a in got] == want.member.tolist()
    assert np.array_equal(np.float32([a["confidence"] for a in got]), want.confidence)


def test_a_prediction_during_swaps_sees_one_served_system_whole(saved_system, tmp_path):
    """Every answer, asked while feedback is learned and swapped in, is the old system's or the new one's."""
    import threading

    system, X, y = saved_system
    query = X[100:164]
    want = [p.predict_detailed(query) for p in _replayed(system, X, y, SPANS)]
    s = RecognitionService(system, tmp_path / "state", checkpoint_every=0)
    seen, stop = [], threading.Event()

    def ask():
        while not stop.is_set():
            r = s.predict(query.tolist())
            seen.append((r["system_version"], [a["label"] for a in r["answers"]], [a["confidence"] for a in r["answers"]]))

    t = threading.Thread(target=ask)
    try:
        t.start()
        for a, b in SPANS:
            s.feedback(_examples(X, y, a, b), wait=True)
        while not any(v == len(SPANS) for v, _, _ in seen):
            time.sleep(0.01)
    finally:
        stop.set()
        t.join()
        s.close()
    assert {v for v, _, _ in seen} >= {0, len(SPANS)}
    for version, labels, conf in seen:
        assert labels == _labels(want[version])
        assert np.array_equal(np.float32(conf), want[version].confidence)
