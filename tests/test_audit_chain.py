"""The hash chain: written by ChainWriter, checked by verify; every kind of tampering is
reported at the right file, line and sequence number; rotation; crash recovery on open."""

from __future__ import annotations

import itertools
import json
import stat
from pathlib import Path

import pytest

from llmward.audit import AuditLogBusy, AuditLogCorrupt, ChainWriter, Head, api_request, verify
from llmward.audit.canonical import canonical, record_hash
from llmward.audit.files import log_files


def request(i: int, user: str = "alice") -> object:
    return api_request(
        request_id=f"r{i}",
        method="POST",
        path="/v1/chat/completions",
        status=200,
        latency_us=1000 + i,
        key_id="k1",
        user=user,
        role="developer",
        client="10.0.0.1",
        decision="allow",
        rule_ids=["pii.email"],
    )


def write_log(directory: Path, count: int, max_file_bytes: int = 64 * 1024 * 1024) -> Head:
    with ChainWriter(directory, max_file_bytes=max_file_bytes) as writer:
        for i in range(count):
            writer.append(request(i))  # type: ignore[arg-type]
        return writer.head


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def messages(report: object) -> list[tuple[str, int | None, int | None, str]]:
    return [(p.file, p.line, p.seq, p.message) for p in report.problems]  # type: ignore[attr-defined]


@pytest.fixture
def log(tmp_path: Path) -> Path:
    directory = tmp_path / "audit"
    directory.mkdir(mode=0o700)
    write_log(directory, 10)
    return directory / "audit-000001.jsonl"


@pytest.fixture
def rotated(tmp_path: Path) -> list[Path]:
    directory = tmp_path / "audit"
    directory.mkdir(mode=0o700)
    write_log(directory, 60, max_file_bytes=4096)
    files = log_files(directory)
    assert len(files) >= 4
    return files


def test_intact_log_verifies(log: Path) -> None:
    report = verify([log])
    assert report.ok, report.problems
    assert report.records == 11  # file_start + 10
    assert report.head is not None and report.head.seq == 10
    first = json.loads(lines(log)[0])
    assert first["kind"] == "file_start" and first["prev"] == "0" * 64 and first["seq"] == 0


def test_records_are_canonical_and_hash_is_reproducible(log: Path) -> None:
    for line in lines(log):
        record = json.loads(line)
        assert canonical(record) + b"\n" == line
        assert record_hash(record) == record["hash"]
        assert b" " not in line.replace(b"POST /", b"")


def test_edited_field_is_reported_at_its_line(log: Path) -> None:
    data = lines(log)
    data[4] = data[4].replace(b'"status":200', b'"status":201')
    log.write_bytes(b"".join(data))
    problems = messages(verify([log]))
    assert problems == [
        (log.name, 5, 4, "hash does not match the record's content (the record was edited)")
    ]


def test_edit_with_recomputed_hash_breaks_the_next_link(log: Path) -> None:
    data = lines(log)
    record = json.loads(data[4])
    record["data"]["status"] = 500
    record["hash"] = record_hash(record)
    data[4] = canonical(record) + b"\n"
    log.write_bytes(b"".join(data))
    problems = messages(verify([log]))
    assert len(problems) == 1
    assert problems[0][:3] == (log.name, 6, 5)
    assert "prev does not match the hash of the preceding record" in problems[0][3]
    assert f"{log.name}:5, seq 4" in problems[0][3]


def test_whitespace_edit_is_caught(log: Path) -> None:
    data = lines(log)
    data[2] = data[2].replace(b'{"clear"', b'{ "clear"')
    log.write_bytes(b"".join(data))
    assert [(p[1], p[3]) for p in messages(verify([log]))] == [
        (3, "not in canonical form (the line was edited)")
    ]


def test_edited_clear_user_is_caught_by_its_commitment(log: Path) -> None:
    data = lines(log)
    data[3] = data[3].replace(b'"value":"alice"', b'"value":"mallory"')
    log.write_bytes(b"".join(data))
    assert messages(verify([log])) == [
        (log.name, 4, 3, "clear value 'user' does not match its commitment")
    ]


def test_deleted_line(log: Path) -> None:
    data = lines(log)
    del data[5]
    log.write_bytes(b"".join(data))
    problems = messages(verify([log]))
    assert [p[:3] for p in problems] == [(log.name, 6, 6), (log.name, 6, 6)]
    assert "seq 6 after seq 4: 1 record(s) missing" in problems[0][3]
    assert "prev does not match" in problems[1][3]


def test_swapped_lines(log: Path) -> None:
    data = lines(log)
    data[3], data[4] = data[4], data[3]
    log.write_bytes(b"".join(data))
    problems = messages(verify([log]))
    assert problems[0][:3] == (log.name, 4, 4)
    assert "seq 4 after seq 2: 1 record(s) missing" in problems[0][3]
    assert any(p[:3] == (log.name, 5, 3) and "reordered or inserted" in p[3] for p in problems)


def test_inserted_copy_of_a_line(log: Path) -> None:
    data = lines(log)
    data.insert(5, data[4])
    log.write_bytes(b"".join(data))
    problems = messages(verify([log]))
    assert problems[0][:3] == (log.name, 6, 4)
    assert "reordered or inserted" in problems[0][3]


def test_deleted_first_line(log: Path) -> None:
    data = lines(log)
    log.write_bytes(b"".join(data[1:]))
    problems = messages(verify([log]))
    assert {p[1] for p in problems} == {1}
    assert any("does not begin at seq 0" in p[3] for p in problems)
    assert any("must start with a file_start" in p[3] for p in problems)


def test_torn_last_line(log: Path) -> None:
    data = log.read_bytes()
    log.write_bytes(data[:-40])
    problems = messages(verify([log]))
    assert len(problems) == 1
    assert problems[0][:2] == (log.name, 11)
    assert "incomplete last line" in problems[0][3]


def test_appended_garbage(log: Path) -> None:
    with log.open("ab") as f:
        f.write(b"this is not a record\n")
    assert messages(verify([log])) == [(log.name, 12, None, "not valid JSON")]


def test_cut_tail_is_caught_only_with_an_anchor(log: Path) -> None:
    anchor = verify([log]).head
    assert anchor is not None
    data = lines(log)
    log.write_bytes(b"".join(data[:-2]))
    assert verify([log]).ok  # without a witness a clean cut at a record boundary is invisible
    problems = messages(verify([log], anchor=anchor))
    assert problems == [(log.name, None, 10, "the log ends before the anchor record: truncated")]
    log.write_bytes(b"".join(data))
    assert verify([log], anchor=anchor).ok
    assert not verify([log], anchor=Head(anchor.seq, "0" * 64)).ok


def test_oversized_line_is_reported_without_reading_it_whole(log: Path) -> None:
    with log.open("ab") as f:
        f.write(b"x" * (600 * 1024) + b"\n")
    assert [p[1] for p in messages(verify([log]))] == [12]


# -- rotation ---------------------------------------------------------------------------------


def test_rotation_chains_across_files(rotated: list[Path]) -> None:
    report = verify(rotated)
    assert report.ok, report.problems
    assert report.records == 60 + len(rotated)
    for previous, current in itertools.pairwise(rotated):
        last = json.loads(lines(previous)[-1])
        first = json.loads(lines(current)[0])
        assert first["kind"] == "file_start"
        assert first["data"] == {"previous_file": previous.name, "previous_seq": last["seq"]}
        assert first["prev"] == last["hash"] and first["seq"] == last["seq"] + 1
        assert previous.stat().st_size <= 4096
    assert verify([rotated[0].parent]).ok  # a directory stands for its files in order


def test_files_and_directory_are_private(rotated: list[Path]) -> None:
    assert stat.S_IMODE(rotated[0].parent.stat().st_mode) == 0o700
    for path in rotated:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_dropped_middle_file(rotated: list[Path]) -> None:
    kept = rotated[:1] + rotated[2:]
    problems = messages(verify(kept))
    assert {(p[0], p[1]) for p in problems} == {(rotated[2].name, 1)}
    text = " ".join(p[3] for p in problems)
    assert f"follows {rotated[0].name} but names '{rotated[1].name}'" in text
    assert "record(s) missing" in text


def test_dropped_middle_file_from_a_directory(rotated: list[Path]) -> None:
    rotated[1].unlink()
    assert not verify([rotated[0].parent]).ok


def test_reordered_files(rotated: list[Path]) -> None:
    order = [rotated[1], rotated[0], *rotated[2:]]
    problems = messages(verify(order))
    assert problems and problems[0][0] == rotated[1].name


def test_tail_cut_from_a_middle_file(rotated: list[Path]) -> None:
    data = lines(rotated[1])
    rotated[1].write_bytes(b"".join(data[:-1]))
    problems = messages(verify(rotated))
    assert [(p[0], p[1]) for p in problems] == [(rotated[2].name, 1), (rotated[2].name, 1)]


def test_partial_verification_of_later_files(rotated: list[Path]) -> None:
    assert not verify(rotated[2:]).ok
    assert verify(rotated[2:], partial=True).ok


# -- opening, recovery, locking ---------------------------------------------------------------


def test_reopen_continues_the_chain(tmp_path: Path) -> None:
    write_log(tmp_path, 3)
    head = write_log(tmp_path, 3)
    assert head.seq == 6
    report = verify([tmp_path])
    assert report.ok and report.records == 7


def test_torn_tail_is_truncated_and_recorded(log: Path) -> None:
    size = log.stat().st_size
    torn = b'{"clear":{"user":{"salt":"ab'
    with log.open("ab") as f:
        f.write(torn)
    head = write_log(log.parent, 1)
    assert log.read_bytes()[size:].count(b"\n") == 2
    recovery = json.loads(lines(log)[-2])
    assert recovery["kind"] == "recovery" and recovery["seq"] == 11
    assert recovery["data"]["truncated_bytes"] == len(torn) and recovery["data"]["file"] == log.name
    assert head.seq == 12
    assert verify([log]).ok


def test_torn_first_record_of_a_new_file(rotated: list[Path]) -> None:
    last = rotated[-1]
    last.write_bytes(last.read_bytes()[:50])  # only part of its file_start survived
    write_log(last.parent, 2)
    report = verify([last.parent])
    assert report.ok, report.problems
    first = json.loads(lines(last)[0])
    assert first["data"]["previous_file"] == rotated[-2].name


def test_corrupt_last_record_refuses_to_append(log: Path) -> None:
    data = lines(log)
    data[-1] = data[-1].replace(b'"status":200', b'"status":201')
    log.write_bytes(b"".join(data))
    with pytest.raises(AuditLogCorrupt):
        ChainWriter(log.parent)


def test_one_writer_per_directory(tmp_path: Path) -> None:
    with ChainWriter(tmp_path):
        with pytest.raises(AuditLogBusy):
            ChainWriter(tmp_path)
    ChainWriter(tmp_path).close()


def test_deeply_nested_garbage_is_reported_not_crashing(log: Path) -> None:
    with log.open("ab") as f:
        f.write(b"[" * 100_000 + b"]" * 100_000 + b"\n")
    assert messages(verify([log])) == [(log.name, 12, None, "not valid JSON")]
