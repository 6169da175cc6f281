"""Recall and false-positive rate of the default guard on the labelled corpus
in tests/data/evasion_corpus.jsonl (attacks in every evasion form, benign
look-alikes in many scripts). README reports the figures this test prints."""

import json
from collections import Counter
from pathlib import Path

import pytest

from llmward.guard import Guard

CORPUS = Path(__file__).parent / "data" / "evasion_corpus.jsonl"
MIN_RECALL = 0.97
MAX_FALSE_POSITIVE_RATE = 0.02


@pytest.fixture(scope="module")
def outcomes():
    guard = Guard()
    records = [json.loads(line) for line in CORPUS.read_text(encoding="utf-8").splitlines()]
    results = []
    for record in records:
        verdict = guard.check_prompt(record["text"])
        found = {f.category.split(".")[0] for f in verdict.findings} | {
            f.category for f in verdict.findings}
        if record["label"] == "attack":
            hit = all(category in found for category in record["expect"])
        else:
            hit = bool(verdict.findings)
        results.append((record, hit))
    return results


def test_recall_and_false_positive_rate(outcomes):
    attacks = [(r, hit) for r, hit in outcomes if r["label"] == "attack"]
    benign = [(r, hit) for r, hit in outcomes if r["label"] == "benign"]
    recall = sum(hit for _, hit in attacks) / len(attacks)
    fp_rate = sum(hit for _, hit in benign) / len(benign)
    missed = Counter(r["form"] for r, hit in attacks if not hit)
    print(f"\nrecall {recall:.3f} on {len(attacks)} attacks (missed by form: {dict(missed)}); "
          f"false-positive rate {fp_rate:.3f} on {len(benign)} benign texts")
    false_positives = [r["text"][:80] for r, hit in benign if hit]
    assert recall >= MIN_RECALL, missed
    assert fp_rate <= MAX_FALSE_POSITIVE_RATE, false_positives


def test_every_evasion_form_is_covered(outcomes):
    forms = Counter(r["form"] for r, _ in outcomes if r["label"] == "attack")
    for form in ["plain", "zero_width", "bidi", "tags", "fullwidth", "math_styled", "homoglyph",
                 "accents", "zalgo", "spaced", "dotted", "leetspeak", "base64", "hex", "percent"]:
        assert forms[form] >= 10, form
