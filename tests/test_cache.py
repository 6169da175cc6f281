import os

import pytest

from llmward import Rule, Scanner

RULES = [Rule("override", r"ignore\s+previous\s+instructions"),
         *[Rule(f"t{i}", f"term{i}", literal=True) for i in range(50)]]
TEXT = "ignore previous instructions: term7 and term42"


@pytest.fixture
def cache_dir(tmp_path):
    path = tmp_path / "cache"
    path.mkdir(mode=0o700)
    return path


def cache_files(path):
    return sorted(p for p in path.iterdir() if p.suffix == ".hsdb")


def test_second_start_loads_from_cache(cache_dir):
    first = Scanner(RULES, cache_dir=cache_dir)
    assert first.cache_status == "miss"
    (stored,) = cache_files(cache_dir)
    assert stored.stat().st_mode & 0o777 == 0o600
    second = Scanner(RULES, cache_dir=cache_dir)
    assert second.cache_status == "hit"
    assert second.scan(TEXT) == first.scan(TEXT) != []
    assert [m.rule for m in _stream(second, TEXT)] == [m.rule for m in first.scan(TEXT)]


def _stream(scanner, text):
    stream = scanner.stream()
    return sorted(stream.feed(text) + stream.close(), key=lambda m: (m.start, m.end))


def test_a_different_rule_set_gets_its_own_entry(cache_dir):
    Scanner(RULES, cache_dir=cache_dir)
    other = Scanner([*RULES, Rule("extra", "extra", literal=True)], cache_dir=cache_dir)
    assert other.cache_status == "miss"
    assert len(cache_files(cache_dir)) == 2
    flipped = Scanner([Rule(r.id, r.pattern, literal=r.literal, caseless=False) for r in RULES],
                      cache_dir=cache_dir)
    assert flipped.cache_status == "miss"


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty", "garbage", "swap"])
def test_corrupt_cache_files_are_rebuilt(cache_dir, damage):
    reference = Scanner(RULES, cache_dir=cache_dir).scan(TEXT)
    (stored,) = cache_files(cache_dir)
    data = bytearray(stored.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0x40
    elif damage == "truncate":
        data = data[: len(data) - 100]
    elif damage == "empty":
        data = bytearray()
    elif damage == "garbage":
        data = bytearray(os.urandom(len(data)))
    else:  # a valid file of another rule set under this key's name
        other = Scanner([Rule("x", "other", literal=True)], cache_dir=cache_dir)
        assert other.cache_status == "miss"
        (other_file,) = [p for p in cache_files(cache_dir) if p != stored]
        data = bytearray(other_file.read_bytes())
    stored.write_bytes(bytes(data))
    rebuilt = Scanner(RULES, cache_dir=cache_dir)
    assert rebuilt.cache_status == "rebuilt"
    assert rebuilt.scan(TEXT) == reference
    assert Scanner(RULES, cache_dir=cache_dir).cache_status == "hit"


def test_directory_writable_by_others_is_not_trusted(cache_dir):
    Scanner(RULES, cache_dir=cache_dir)
    cache_dir.chmod(0o777)
    scanner = Scanner(RULES, cache_dir=cache_dir)
    assert scanner.cache_status == "insecure"
    assert scanner.scan(TEXT) != []


def test_missing_directories_are_created_private(tmp_path):
    target = tmp_path / "a" / "b"
    assert Scanner(RULES, cache_dir=target).cache_status == "miss"
    assert target.stat().st_mode & 0o777 == 0o700


def test_cache_can_be_disabled(cache_dir):
    assert Scanner(RULES, cache=False).cache_status == "disabled"
    assert cache_files(cache_dir) == []


def test_default_directory_honours_the_environment(tmp_path, monkeypatch):
    import llmward

    monkeypatch.setenv("LLMWARD_CACHE_DIR", str(tmp_path / "env-cache"))
    assert llmward.default_cache_dir() == str(tmp_path / "env-cache")
    assert Scanner(RULES).cache_status == "miss"
    assert Scanner(RULES).cache_status == "hit"


def test_least_recently_used_files_are_pruned(cache_dir):
    def rules(n):
        return [Rule(f"r{n}", f"term{n}", literal=True)]

    Scanner(rules(0), cache_dir=cache_dir)
    first = set(os.listdir(cache_dir))
    for n in range(1, 8):
        Scanner(rules(n), cache_dir=cache_dir)
    os.utime(cache_dir / next(iter(first)), (1, 1))  # the oldest file...
    assert Scanner(rules(0), cache_dir=cache_dir).cache_status == "hit"  # ...is used again
    for n in range(8, 12):
        Scanner(rules(n), cache_dir=cache_dir)
    kept = {f for f in os.listdir(cache_dir) if f.endswith(".hsdb")}
    assert len(kept) == 8  # the cache keeps eight rule sets
    assert first <= kept  # the one used recently survived
    assert Scanner(rules(1), cache_dir=cache_dir).cache_status == "miss"  # unused: pruned
