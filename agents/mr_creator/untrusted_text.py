"""The one neutraliser of text that travels from a patch bundle to GitLab.

Everything a patch bundle carries (summary, rationale, checks, engine fields, analysis,
file names, commit messages, the mbox's `From:`) was written by an agent that read logs,
so an attacker may have chosen it. GitLab acts on text in several ways; each is defused:

- quick actions: GitLab runs a line of a description or note that starts with
  `/command` (its extractor matches `^/` on raw lines). A zero-width space goes before a
  `/` that opens a line after whitespace or Markdown list, quote, heading or task marks.
- mentions and references: `@user`, `@all`, `#12`, `group/p#12`, `!45`, `&7`, `~label`,
  `%milestone`, `$snippet`, `[vulnerability:`, `*iteration:` and issue/MR URLs notify or
  leave "mentioned in" notes. GitLab finds them in the *rendered* text nodes, so Markdown
  escapes and HTML entities do not stop them (`&#64;all` renders as `@all`); a zero-width
  space after the sigil does, and it is invisible, also inside code.
- closing keywords (`Closes #1`, `Fixes group/p#2`, `Resolves`, `Implements`, GitLab's
  default `issue_closing_pattern`): a zero-width space after the keyword when a
  reference follows, on top of the neutralised reference itself.
- HTML (Markdown mode): `&` and `<` become entities, so no comment, `<details>`, hidden
  `<span>` or forged changeset marker can come out of untrusted text.

Markdown mode is for text rendered as Markdown (descriptions, notes, titles); plain mode
for text shown literally (commit messages, the inside of code blocks and spans).
"""

from __future__ import annotations

import re

ZWSP = "\u200b"

# Before the `/` of a would-be quick action: whitespace and Markdown block marks only.
_QUICK_ACTION = re.compile(r"^((?:[^\S\n]|[>*+\-#|.)\[\]xX0-9])*)/", re.MULTILINE)
# GitLab's mention pattern starts with (?<!\w), ASCII in Ruby: an address like a@b.io is no mention.
# `_` is not exempt: `_@all_` renders as <em>@all</em>, a text node that starts with the mention.
_MENTION = re.compile("(?<![A-Za-z0-9])@(?!" + ZWSP + ")")
_REFERENCE = re.compile(r"([#!&~%$^])(?=[\w\"'])")
_SPECIAL_REFERENCE = re.compile(r"(\[)(?=vulnerability:)|(\*)(?=iteration:)", re.IGNORECASE)
_REFERENCE_URL = re.compile(r"/(?=(?:-/)?(?:issues|merge_requests|work_items|epics|milestones|snippets)/)")
_CLOSING_KEYWORD = re.compile(
    r"\b(clos(?:e[sd]?|ing)|fix(?:e[sd]|ing)?|resolv(?:e[sd]?|ing)|implement(?:s|ed|ing)?)"
    r"(?=:?[^\S\n]+(?:issues?[^\S\n]+)?(?:[#!]|\S*[#!/:]|[A-Z][A-Z0-9_]+-\d))",
    re.IGNORECASE,
)


def normalize_lines(text: str) -> str:
    """One line break, `\\n`: GitLab's `^` sees only `\\n`, Python's splitlines sees more."""
    return "\n".join(text.splitlines())


# A task item (`- [x] rollout: passed`), also in quotes and numbered lists: untrusted text must not show a
# check as ticked, nor give update-from-verification a line to tick.
_TASK_ITEM = re.compile(r"(?m)^((?:[ \t]*>)*[ \t]*(?:[-*+]|\d{1,9}[.)])[ \t]+)\[([ xX])\]")


def neutralize(text: str, *, markdown: bool = True) -> str:
    """Untrusted text that GitLab shows but never acts on (see the module doc)."""
    out = normalize_lines(text)
    out = _QUICK_ACTION.sub(lambda m: m.group(1) + ZWSP + "/", out)
    out = _MENTION.sub("@" + ZWSP, out)
    out = _REFERENCE.sub(lambda m: m.group(1) + ZWSP, out)
    out = _SPECIAL_REFERENCE.sub(lambda m: (m.group(1) or m.group(2)) + ZWSP, out)
    out = _REFERENCE_URL.sub("/" + ZWSP, out)
    out = _CLOSING_KEYWORD.sub(lambda m: m.group(1) + ZWSP, out)
    if markdown:
        out = _TASK_ITEM.sub(lambda m: m.group(1) + "[" + ZWSP + m.group(2) + "]", out)
        out = out.replace("&", "&amp;").replace("<", "&lt;")
    return out


def one_line(text: str, *, markdown: bool = True) -> str:
    """Neutralised and folded onto one line (titles, list items, trailers)."""
    return " ".join(neutralize(text, markdown=markdown).split())


def code_span(text: str) -> str:
    """Inline code that no backtick inside the text can close."""
    inner = one_line(text, markdown=False)
    longest = max((len(run) for run in re.findall(r"`+", inner)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if inner.startswith("`") or inner.endswith("`") or not inner else ""
    return f"{ticks}{pad}{inner}{pad}{ticks}"


def fenced(text: str, info: str = "text") -> str:
    """A fenced block that no backtick run inside the text can close; its lines neutralised."""
    inner = neutralize(text, markdown=False)
    longest = max((len(run) for run in re.findall(r"`+", inner)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{inner}\n{fence}"
