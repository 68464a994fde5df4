"""Scripts and helpers for the repository: not part of the adalearn package."""
