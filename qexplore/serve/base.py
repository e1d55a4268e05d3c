"""The contract the sweep uses for a server, started by qexplore or attached to."""

from __future__ import annotations

from typing import Protocol

from qexplore.serve.facts import ServerFacts


class Server(Protocol):
    """Lifecycle: ``with server:`` makes it ready (or attaches); leaving stops what was started.

    ``base_url`` ends before ``/v1``; ``check_alive`` raises ServerError once it is gone.
    """

    api_key: str | None
    facts: ServerFacts | None

    @property
    def base_url(self) -> str: ...

    def check_alive(self, during: str = "use") -> None: ...

    def __enter__(self) -> Server: ...

    def __exit__(self, *exc: object) -> None: ...
