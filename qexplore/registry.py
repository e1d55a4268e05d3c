"""A small name → entry registry with "did you mean …?" errors (one place per choice)."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


def suggest(name: str, known: list[str], list_choices: bool = True) -> str:
    """`` — did you mean 'X'?`` for the closest known name; otherwise the list of choices (or
    nothing, when ``list_choices`` is False: a list too long to show)."""
    by_lower = {k.lower(): k for k in known}
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=1, cutoff=0.5)
    if close:
        return f" — did you mean '{by_lower[close[0]]}'?"
    return f" (choose from: {', '.join(known)})" if list_choices else ""


class Registry(Generic[T]):
    """Entries keyed by name; lookups are case-insensitive and fail with a suggestion."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._names: list[str] = []

    def add(self, name: str, entry: T) -> T:
        if name.lower() in self._entries:
            raise ValueError(f"{self.kind} '{name}' registered twice")
        self._entries[name.lower()] = entry
        self._names.append(name)
        return entry

    def names(self) -> list[str]:
        """The registered names, in registration order."""
        return list(self._names)

    def get(self, name: str) -> T:
        """The entry for ``name``; ``KeyError`` with a readable message when unknown."""
        try:
            return self._entries[name.lower()]
        except KeyError:
            raise KeyError(f"unknown {self.kind} '{name}'{suggest(name, self.names())}") from None

    def canonical(self, name: str) -> str:
        """The registered spelling of ``name``."""
        self.get(name)
        return next(n for n in self.names() if n.lower() == name.lower())

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._entries

    def __iter__(self) -> Iterator[T]:
        return iter(self._entries.values())
