"""Exceptions of the core: what can go wrong with a state graph or its persistence.

Only exception classes live here; the code that raises them lives with the
concept it checks.
"""

from __future__ import annotations

__all__ = ["GraphError", "RenderWarning", "StateDictError", "StateDictWarning"]


class GraphError(ValueError):
    """The state graph has one or more problems; ``problems`` lists them all.

    Attributes:
        problems: one human-readable line per problem, in the order found.
    """

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        n = len(self.problems)
        lines = "\n".join(f"  {i}. {p}" for i, p in enumerate(self.problems, 1))
        super().__init__(f"{n} problem{'s' if n != 1 else ''} in the state graph:\n{lines}")


class StateDictError(ValueError):
    """A state dict does not match the state it is loaded into, or is not a state dict.

    Attributes:
        missing: paths the state has and the dict lacks.
        unexpected: paths the dict has and the state lacks.
        mismatched: one line per entry present on both sides whose value does not fit.
        malformed: one line per problem of the dict itself (not a dict, no
            format tag, a section missing or of the wrong type); when there is
            any, ``strict=False`` cannot help and the message does not suggest it.
    """

    def __init__(
        self,
        missing: list[str] | None = None,
        unexpected: list[str] | None = None,
        mismatched: list[str] | None = None,
        header: str = "the state dict does not match the state",
        *,
        malformed: list[str] | None = None,
    ) -> None:
        self.missing = sorted(missing or [])
        self.unexpected = sorted(unexpected or [])
        self.mismatched = list(mismatched or [])
        self.malformed = list(malformed or [])
        parts = [header + ":"]
        parts += [f"  {line}" for line in self.malformed if line not in header]
        if self.missing:
            parts.append(f"  missing entries ({len(self.missing)}): {', '.join(self.missing)}")
        if self.unexpected:
            parts.append(
                f"  unexpected entries ({len(self.unexpected)}): {', '.join(self.unexpected)}"
            )
        for line in self.mismatched:
            parts.append(f"  mismatch: {line}")
        if self.malformed:
            parts.append(
                "  nothing was loaded; a state dict is what state.state_dict() returns "
                "(a checkpoint file holds it under 'state')"
            )
        else:
            parts.append("  load with strict=False to restore only the entries that match.")
        super().__init__("\n".join(parts))


class StateDictWarning(UserWarning):
    """A state dict loaded, but part of it had no place in the state (it was ignored)."""


class RenderWarning(UserWarning):
    """Rendering fell back to writing DOT source (for example, Graphviz is not installed)."""
