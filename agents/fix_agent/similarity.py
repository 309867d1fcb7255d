"""Which known name a misspelt one meant: Damerau-Levenshtein distance and a margin rule."""

from __future__ import annotations


def distance(a: str, b: str) -> int:
    """Edits (insert, delete, substitute, swap two neighbours) from a to b; optimal string alignment."""
    rows = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        rows[i][0] = i
    for j in range(len(b) + 1):
        rows[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            rows[i][j] = min(rows[i - 1][j] + 1, rows[i][j - 1] + 1, rows[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                rows[i][j] = min(rows[i][j], rows[i - 2][j - 2] + 1)
    return rows[len(a)][len(b)]


def closest(word: str, known: list[str]) -> tuple[str | None, str]:
    """The one known name the word is a typo of, or None; the second value says why, naming candidates.

    Case is ignored. The best must be within max(1, len/4) edits and strictly closer than the
    next one; a tie is refused, listing the tied names.
    """
    scored = sorted((distance(word.lower(), name.lower()), name) for name in set(known) if name != word)
    if not scored:
        return None, "no other name to compare with"
    best, name = scored[0]
    limit = max(1, len(word) // 4)
    ranking = ", ".join(f"{n} ({d})" for d, n in scored[:4])
    if best > limit:
        return None, f"no name within {limit} edit(s) of {word!r}; closest: {ranking}"
    ties = [n for d, n in scored if d == best]
    if len(ties) > 1:
        return None, f"{word!r} is equally close to {', '.join(sorted(ties))}: ambiguous"
    return name, f"{word!r} -> {name!r}: {best} edit(s); next: {ranking}"
