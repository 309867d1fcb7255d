"""Durations and conditions of a verification spec (loading and validation: pathops_contracts.verification_spec)."""

from __future__ import annotations

import re

from pathops_contracts.errors import InvalidInput
from pathops_contracts.verification_spec import load_spec

__all__ = ["condition_holds", "load_spec", "seconds"]

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_CONDITION = re.compile(r"result\s*(<=|>=|==|!=|<|>)\s*(-?[0-9.]+)")


def seconds(duration: str | None, default: float = 0.0) -> float:
    if not duration:
        return default
    return sum(float(n) * _UNITS[u] for n, u in re.findall(r"([0-9]+)(ms|s|m|h)", duration))


def condition_holds(condition: str, value: float) -> bool:
    """Evaluate `result < 0.01 and result >= 0` style conditions without eval."""
    terms = re.split(r"\s+(and|or)\s+", condition.strip())
    outcome = _compare(terms[0], value)
    for joiner, term in zip(terms[1::2], terms[2::2], strict=True):
        outcome = (outcome and _compare(term, value)) if joiner == "and" else (outcome or _compare(term, value))
    return outcome


def _compare(term: str, value: float) -> bool:
    match = _CONDITION.fullmatch(term.strip())
    if match is None:
        raise InvalidInput(f"condition {term!r} is not 'result <op> number'")
    operator, number = match[1], float(match[2])
    return {"<": value < number, "<=": value <= number, ">": value > number, ">=": value >= number,
            "==": value == number, "!=": value != number}[operator]
