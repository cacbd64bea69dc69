"""The feedback log: records come back in order, a torn last line is cut off, damage and foreign logs are refused."""

import pytest

from riscmoe.serve.log import FeedbackLog, LogFormatError, Record


def _add(log, n, start_label=0):
    for i in range(n):
        log.append(lambda seq: Record(seq=seq, inputs=[[0.5, 0.25]], labels=[start_label + i], served=[None], time=1.0,
                                      client=f"c{i}"))


def test_records_come_back_in_order_across_opens(tmp_path):
    log = FeedbackLog(tmp_path / "f.log", "sys-a")
    _add(log, 3)
    log.close()
    again = FeedbackLog(tmp_path / "f.log", "sys-a")
    assert [r.seq for r in again.records] == [1, 2, 3] and [r.labels for r in again.records] == [[0], [1], [2]]
    assert again.records[0].inputs == [[0.5, 0.25]] and again.last_seq == 3 and again.truncated == 0
    _add(again, 1, start_label=9)
    again.close()
    assert [r.seq for r in FeedbackLog(tmp_path / "f.log", "sys-a").records] == [1, 2, 3, 4]


@pytest.mark.parametrize("tail", [b"abc", b'0123456789abcdef {"seq": 4', b"0000000000000000 {}\n"])
def test_a_torn_last_line_is_cut_off(tmp_path, tail):
    log = FeedbackLog(tmp_path / "f.log", "s")
    _add(log, 2)
    log.close()
    whole = (tmp_path / "f.log").read_bytes()
    (tmp_path / "f.log").write_bytes(whole + tail)
    again = FeedbackLog(tmp_path / "f.log", "s")
    assert [r.seq for r in again.records] == [1, 2] and again.truncated == len(tail)
    again.close()
    assert (tmp_path / "f.log").read_bytes() == whole


def test_damage_followed_by_good_lines_is_refused(tmp_path):
    log = FeedbackLog(tmp_path / "f.log", "s")
    _add(log, 3)
    log.close()
    lines = (tmp_path / "f.log").read_bytes().split(b"\n")
    lines[2] = lines[2].replace(b'"labels":[1]', b'"labels":[7]')
    (tmp_path / "f.log").write_bytes(b"\n".join(lines))
    with pytest.raises(LogFormatError, match="line 3 is damaged"):
        FeedbackLog(tmp_path / "f.log", "s")


def test_foreign_files_and_other_systems_are_refused_untouched(tmp_path):
    log = FeedbackLog(tmp_path / "f.log", "s")
    _add(log, 1)
    log.close()
    before = (tmp_path / "f.log").read_bytes()
    with pytest.raises(LogFormatError, match="another system"):
        FeedbackLog(tmp_path / "f.log", "other")
    assert (tmp_path / "f.log").read_bytes() == before
    (tmp_path / "g.log").write_text("hello\nworld\n")
    with pytest.raises(LogFormatError, match="not a riscmoe service log"):
        FeedbackLog(tmp_path / "g.log", "s")
    assert (tmp_path / "g.log").read_text() == "hello\nworld\n"


def test_drop_through_keeps_the_later_records_and_the_numbering(tmp_path):
    log = FeedbackLog(tmp_path / "f.log", "s")
    _add(log, 5)
    log.drop_through(3)
    _add(log, 1)
    log.close()
    again = FeedbackLog(tmp_path / "f.log", "s")
    assert [r.seq for r in again.records] == [4, 5, 6]
