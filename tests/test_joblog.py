"""The limits on job output (`codeimport.joblog`): log tails and logs."""

from __future__ import annotations

import time

import pytest

from codeimport.joblog import LOG_FALLBACK_LIMIT
from codeimport.joblog import LOG_FILE_LIMIT
from codeimport.joblog import LOG_HEAD_BYTES
from codeimport.joblog import LOG_TAIL_CHARACTERS
from codeimport.joblog import JobLog
from codeimport.joblog import cap_tail
from codeimport.joblog import truncate_log
from codeimport.joblog import update_tail

# -- log tails --------------------------------------------------------------


def test_update_tail_keeps_the_last_five_lines_and_a_trailing_break():
    tail = b""
    for chunk in (b"1\n2\n", b"3\n4", b"\n5\n6\n7\n"):
        tail = update_tail(tail, chunk)
    assert tail == b"4\n5\n6\n7\n"


def test_update_tail_counts_carriage_returns_as_line_breaks():
    tail = b""
    for percent in range(100):
        tail = update_tail(tail, b"Receiving objects: %d%%\r" % percent)
    assert tail == b"".join(b"Receiving objects: %d%%\r" % p
                            for p in range(96, 100))


def test_update_tail_keeps_a_crlf_split_between_chunks_as_one_break():
    tail = update_tail(b"", b"a\r\nb\r\nc\r\nd\r")
    tail = update_tail(tail, b"\ne\r\nf")
    assert tail == b"b\r\nc\r\nd\r\ne\r\nf"


def test_update_tail_after_100k_progress_updates_is_small_and_fast():
    tail = b""
    started = time.process_time()
    for n in range(100_000):
        tail = update_tail(
            tail, b"Counting objects: %d, done.\r" % n + b"x" * (n % 7))
        assert len(tail) <= LOG_TAIL_CHARACTERS
    spent = time.process_time() - started
    assert tail.endswith(b"Counting objects: 99999, done.\r" + b"x" * 4)
    assert tail.count(b"\r") == 4
    # Linear: the quadratic version took minutes for this many updates.
    assert spent < 10


def test_update_tail_cuts_one_endless_line_to_the_limit():
    tail = b""
    for _ in range(1000):
        tail = update_tail(tail, b"y" * 999)
    assert tail == b"y" * LOG_TAIL_CHARACTERS


def test_update_tail_of_one_huge_chunk_reads_only_its_end():
    data = b"head\n" + b"z" * (50 * 1024 * 1024) + b"\nlast line\n"
    tail = update_tail(b"old\n", data)
    assert tail.endswith(b"\nlast line\n")
    assert len(tail) == LOG_TAIL_CHARACTERS


def test_update_tail_never_starts_inside_a_utf8_character():
    # Three bytes each: the last LOG_TAIL_CHARACTERS bytes start with the
    # last two bytes of a character.
    tail = update_tail(b"", "\N{EURO SIGN}".encode() * LOG_TAIL_CHARACTERS)
    assert tail.decode("utf-8") == (
        "\N{EURO SIGN}" * (LOG_TAIL_CHARACTERS // 3))


def test_cap_tail_applies_the_same_rule_to_text():
    sent = "".join(f"line {n}\r" for n in range(10_000))
    assert cap_tail(sent) == "".join(f"line {n}\r"
                                     for n in range(9996, 10_000))
    assert cap_tail("x" * 10**6 + "\nend") == (
        "x" * (LOG_TAIL_CHARACTERS - 4) + "\nend")
    assert cap_tail("short\n") == "short\n"


# -- logs -------------------------------------------------------------------


def numbered_log(size: int) -> bytes:
    lines = []
    total = 0
    n = 0
    while total < size:
        line = b"line %09d of a long log\n" % n
        lines.append(line)
        total += len(line)
        n += 1
    return b"".join(lines)[:size]


def test_truncate_log_leaves_a_log_within_the_limit_alone():
    data = numbered_log(LOG_FILE_LIMIT)
    assert truncate_log(data) is data


@pytest.mark.parametrize("limit", [LOG_FILE_LIMIT, LOG_FALLBACK_LIMIT])
def test_truncate_log_keeps_whole_lines_of_head_and_tail(limit):
    data = numbered_log(3 * LOG_FILE_LIMIT + 12345) + b"the end\n"
    cut = truncate_log(data, limit)
    assert len(cut) <= limit
    head, marker, tail = cut.partition(b"\n[codeimport: ")
    assert data.startswith(head) and head.endswith(b" of a long log\n")
    if limit == LOG_FILE_LIMIT:
        assert LOG_HEAD_BYTES - 40 < len(head) <= LOG_HEAD_BYTES
    rest = tail.partition(b"]\n")[2]
    assert data.endswith(rest) and rest.startswith(b"line ")
    assert rest.endswith(b"the end\n")
    left_out = int(tail.split(b" bytes")[0].replace(b",", b""))
    assert left_out == len(data) - len(head) - len(rest)
    assert b"were left out here" in tail


def write_in_chunks(log, data, chunk=65536):
    for start in range(0, len(data), chunk):
        log.write(data[start:start + chunk])


@pytest.mark.parametrize("size", [
    0, 1000, LOG_HEAD_BYTES, LOG_FILE_LIMIT, LOG_FILE_LIMIT + 1,
    3 * LOG_FILE_LIMIT + 12345])
def test_job_log_keeps_what_truncate_log_keeps(size):
    data = numbered_log(size)
    log = JobLog()
    write_in_chunks(log, data)
    assert log.size == size
    assert log.getvalue() == truncate_log(data)


def test_job_log_of_endless_output_stays_bounded():
    log = JobLog()
    block = b"Receiving objects: 42%\r" * 4096
    for _ in range(2000):           # about 190 MB
        log.write(block)
        assert len(log._head) + len(log._tail) <= (
            LOG_HEAD_BYTES + 2 * LOG_FILE_LIMIT)
    kept = log.getvalue()
    assert len(kept) <= LOG_FILE_LIMIT
    head, _, rest = kept.partition(b"\n[codeimport: ")
    left_out = int(rest.split(b" bytes")[0].replace(b",", b""))
    tail = rest.partition(b"]\n")[2]
    assert left_out == log.size - len(head) - len(tail)
    assert left_out > 180_000_000


def test_truncate_log_without_line_breaks_still_fits():
    data = b"\r" * (LOG_FILE_LIMIT * 2)
    cut = truncate_log(data)
    assert len(cut) <= LOG_FILE_LIMIT
    assert b"were left out here" in cut
