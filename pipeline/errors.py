"""Exceptions of the core: what can go wrong with a state graph or its persistence.

Only exception classes live here; the code that raises them lives with the
concept it checks.
"""

from __future__ import annotations

__all__ = ["GraphError", "RenderWarning", "StateDictError"]


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
    """A state dict does not match the state it is loaded into.

    Attributes:
        missing: paths the state has and the dict lacks.
        unexpected: paths the dict has and the state lacks.
        mismatched: one line per entry present on both sides whose value does not fit.
    """

    def __init__(
        self,
        missing: list[str] | None = None,
        unexpected: list[str] | None = None,
        mismatched: list[str] | None = None,
        header: str = "the state dict does not match the state",
    ) -> None:
        self.missing = sorted(missing or [])
        self.unexpected = sorted(unexpected or [])
        self.mismatched = list(mismatched or [])
        parts = [header + ":"]
        if self.missing:
            parts.append(f"  missing entries ({len(self.missing)}): {', '.join(self.missing)}")
        if self.unexpected:
            parts.append(
                f"  unexpected entries ({len(self.unexpected)}): {', '.join(self.unexpected)}"
            )
        for line in self.mismatched:
            parts.append(f"  mismatch: {line}")
        parts.append("  load with strict=False to restore only the entries that match.")
        super().__init__("\n".join(parts))


class RenderWarning(UserWarning):
    """Rendering fell back to writing DOT source (for example, Graphviz is not installed)."""
