"""Attach mode: use an already running OpenAI-compatible server instead of starting one.

The API key is read from the environment variable the recipe names, never from argv, and is
never written to logs or reports.
"""

from __future__ import annotations

import os
import urllib.error

from qexplore.endpoint import api_base, check_endpoint
from qexplore.errors import RecipeError
from qexplore.serve.facts import ServerFacts
from qexplore.serve.manager import http_json


class AttachedServer:
    """Same surface as :class:`~qexplore.serve.manager.VllmServer`; starts and stops nothing."""

    def __init__(self, endpoint: str, served_name: str, api_key_env: str | None = None) -> None:
        self._base_url = api_base(endpoint)
        self.served_name = served_name
        self.api_key = os.environ.get(api_key_env) if api_key_env else None
        if api_key_env and not self.api_key:
            raise RecipeError(f"serve.api_key_env: the environment variable {api_key_env} is not set")
        self.facts: ServerFacts | None = None
        self.startup_s: float | None = None

    @property
    def base_url(self) -> str:
        return self._base_url

    def __enter__(self) -> AttachedServer:
        self.check_alive()
        try:
            version = (http_json(f"{self.base_url}/version") or {}).get("version")
        except (urllib.error.URLError, OSError, ValueError):
            version = None
        self.facts = ServerFacts(self.served_name, version, endpoint=self.base_url)
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def check_alive(self, during: str = "use") -> None:
        """Raise ServerError unless the endpoint answers ``/v1/models``."""
        check_endpoint(self.base_url, self.api_key, "serve.endpoint", during)
