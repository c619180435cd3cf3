"""A style sheet split into plain rules, which can be inlined, and at-rules, which cannot.

Only as much CSS syntax as that needs: an at-rule runs from its ``@`` to the ``}``
that closes its block, or to its ``;`` when it has none (``@import …;``).
"""

from __future__ import annotations


def split_at_rules(css: str) -> tuple[str, str]:
    """(plain rules, at-rule blocks) of a style sheet."""
    plain: list[str] = []
    at_rules: list[str] = []
    i, n = 0, len(css)
    while i < n:
        if css[i] == "@":
            end = _at_rule_end(css, i)
            at_rules.append(css[i:end])
        else:
            nxt = css.find("@", i)
            end = n if nxt < 0 else nxt
            plain.append(css[i:end])
        i = end
    return "".join(plain).strip(), "\n".join(at_rules).strip()


def _at_rule_end(css: str, start: int) -> int:
    """The index just past the at-rule that begins at ``start``."""
    depth = 0
    for i in range(start, len(css)):
        ch = css[i]
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        elif ch == ";" and depth == 0:
            return i + 1
    return len(css)
