"""The ``fuzzy`` matcher ``lms load`` and ``lms get`` use to pick a model from a typed name."""

from __future__ import annotations


def fuzzy_match(pattern: str, text: str) -> int | None:
    """``fuzzy.match``: every pattern character in order (case-insensitive); consecutive runs score more."""
    pattern = pattern.lower()
    compare = text.lower()
    index = score = current = 0
    for ch in compare:
        if index < len(pattern) and ch == pattern[index]:
            index += 1
            current += 1 + current
        else:
            current = 0
        score += current
    return score if index == len(pattern) else None


def fuzzy_filter(pattern: str, items: list[str]) -> list[int]:
    """``fuzzy.filter``: indexes of the matching items, best score first, ties in list order."""
    scored = []
    for i, item in enumerate(items):
        score = fuzzy_match(pattern, item)
        if score is not None:
            scored.append((-score, i))
    return [i for _, i in sorted(scored)]
