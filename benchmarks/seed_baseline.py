"""The seed design's PromptValidator and ContentFilter, as the baseline the
guard benchmark compares against (transcribed from the seed document, with
its term lists pointed at llmward's shipped defaults)."""

from __future__ import annotations

import re
from pathlib import Path

INJECTION_PATTERNS = [
    r"ignore\s+previous\s+instructions",
    r"disregard\s+all\s+prior",
    r"system\s*:\s*you\s+are\s+now",
    r"jailbreak",
    r"\<\s*system\s*\>",
    r"\[INST\].*\[\/INST\]",
]
PII_PATTERNS = {
    "ssn": r"\b\d{3}-\d{2}-\d{4}\b",
    "credit_card": r"\b\d{4}[\s-]?\d{4}[\s-]?\d{4}[\s-]?\d{4}\b",
    "email": r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Z|a-z]{2,}\b",
    "phone": r"\b\d{3}[-.]?\d{3}[-.]?\d{4}\b",
}


class SeedPromptValidator:
    def __init__(self, max_length: int = 4096) -> None:
        self.max_length = max_length

    def validate(self, prompt: str) -> tuple[bool, str, str]:
        if len(prompt) > self.max_length:
            return False, "too long", ""
        if not prompt.strip():
            return False, "Empty prompt", ""
        for pattern in INJECTION_PATTERNS:
            if re.search(pattern, prompt, re.IGNORECASE):
                return False, f"Potential prompt injection detected: {pattern}", ""
        found = [name for name, pattern in PII_PATTERNS.items() if re.search(pattern, prompt)]
        if found:
            return False, f"PII detected: {', '.join(found)}", ""
        sanitized = re.sub(r"[\x00-\x1f\x7f-\x9f]", "", prompt)
        sanitized = re.sub(r"\s+", " ", sanitized).strip()
        sanitized = re.sub(r"<[^>]+>", "", sanitized)
        return True, "Valid", sanitized


class SeedContentFilter:
    def __init__(self, data_dir: Path) -> None:
        self.banned_terms = self._load(data_dir / "banned_terms.txt")
        self.categories = {
            path.stem: self._load(path) for path in sorted((data_dir / "filters").glob("*.txt"))
        }

    @staticmethod
    def _load(path: Path) -> set[str]:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return set()
        return {line.strip().lower() for line in lines if line.strip() and not line.startswith("#")}

    def filter_input(self, text: str) -> tuple[bool, list[str]]:
        text_lower = text.lower()
        violations = [f"banned_term:{t}" for t in self.banned_terms if t in text_lower]
        for category, terms in self.categories.items():
            violations += [f"{category}:{t}" for t in terms if t in text_lower]
        return not violations, violations


def seed_check(validator: SeedPromptValidator, content: SeedContentFilter, prompt: str) -> bool:
    ok, _, _ = validator.validate(prompt)
    return ok and content.filter_input(prompt)[0]
