"""Attach mode: use an already running OpenAI-compatible server instead of starting one.

The API key is read from the environment variable the recipe names, never from argv, and is
never written to logs or reports.
"""

from __future__ import annotations

from qexplore.endpoint import api_base, api_key_from, check_endpoint, server_version
from qexplore.serve.facts import ServerFacts


class AttachedServer:
    """Same surface as :class:`~qexplore.serve.manager.VllmServer`; starts and stops nothing."""

    def __init__(self, endpoint: str, served_name: str, api_key_env: str | None = None) -> None:
        self._base_url = api_base(endpoint)
        self.served_name = served_name
        self.api_key = api_key_from(api_key_env, "serve.api_key_env")
        self.facts: ServerFacts | None = None
        self.startup_s: float | None = None

    @property
    def base_url(self) -> str:
        return self._base_url

    def __enter__(self) -> AttachedServer:
        self.check_alive()
        self.facts = ServerFacts(self.served_name, server_version(self.base_url),
                                 endpoint=self.base_url)
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def check_alive(self, during: str = "use") -> None:
        """Raise ServerError unless the endpoint answers ``/v1/models``."""
        check_endpoint(self.base_url, self.api_key, "serve.endpoint", during)
