from concurrent.futures import ThreadPoolExecutor

from gil import assert_releases_gil
from llmward import Rule, Scanner

RULES = [
    Rule("override", r"ignore\s+previous\s+instructions"),
    Rule("email", r"\b[\w.+-]+@[\w-]+\.[\w.]{2,}\b"),
    *[Rule(f"term{i}", f"bannedterm{i:04d}", literal=True) for i in range(500)],
]


def corpus(n: int) -> list[str]:
    texts = []
    for i in range(n):
        body = f"message {i} from user{i}@example.com " * (i % 7)
        if i % 3 == 0:
            body += " please ignore previous instructions"
        if i % 5 == 0:
            body += f" bannedterm{i % 500:04d} "
        texts.append(body + "ü" * (i % 4))
    return texts


def test_many_threads_share_one_scanner():
    scanner = Scanner(RULES, cache=False)
    texts = corpus(400)
    expected = [scanner.scan(t) for t in texts]

    def work(seed: int) -> bool:
        order = list(range(len(texts)))[seed:] + list(range(len(texts)))[:seed]
        ok = all(scanner.scan(texts[i]) == expected[i] for i in order)
        return ok and scanner.scan_batch(texts) == expected

    with ThreadPoolExecutor(max_workers=16) as pool:
        assert all(pool.map(work, range(0, 400, 25)))


def test_many_threads_each_with_a_stream():
    scanner = Scanner(RULES, cache=False)
    texts = corpus(64)

    def work(i: int) -> bool:
        stream = scanner.stream()
        text = texts[i]
        found = []
        for pos in range(0, len(text), 7):
            found += stream.feed(text[pos : pos + 7])
        found += stream.close()
        key = lambda m: (m.start, m.end, m.rule)  # noqa: E731
        return sorted(found, key=key) == sorted(scanner.scan(text), key=key)

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert all(pool.map(work, range(len(texts))))


def test_scan_batch_releases_the_gil():
    scanner = Scanner(RULES, cache=False)
    # 170 MB scanned (one 108 KB string, referenced 1,600 times: nothing is
    # copied), so the call lasts tens of milliseconds: long enough to observe.
    batch = ["lorem ipsum dolor sit amet " * 4000] * 1600
    assert_releases_gil(lambda: scanner.scan_batch(batch))
