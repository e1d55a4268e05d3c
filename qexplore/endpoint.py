"""OpenAI-compatible endpoints: one spelling of a server's base URL, and one check that a URL
really is the API before any work is sent to it.

Users give either form, ``http://127.0.0.1:8000`` or ``http://127.0.0.1:8000/v1`` (the one
``qexplore serve`` prints); every stage appends ``/v1/...`` to :func:`api_base` of it.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request

from qexplore.errors import RecipeError, ServerError

WRONG_PATH = "wrong endpoint path"


def api_base(url: str) -> str:
    """``url`` without trailing slashes or ``/v1``: the base every API path is appended to."""
    return url.strip().rstrip("/").removesuffix("/v1").rstrip("/")


def wrong_path(url: str, status: int = 404) -> str:
    """The message for an API path the server does not have (HTTP 404)."""
    return (f"{WRONG_PATH}: {url} answered HTTP {status}; give the server's base URL, "
            "e.g. http://127.0.0.1:8000 (with or without /v1)")


def check_endpoint(url: str, api_key: str | None = None, field: str = "--endpoint",
                   during: str = "use") -> str:
    """The API base of ``url`` once ``GET /v1/models`` answers there.

    Raises RecipeError (bad input) when the path is wrong, ServerError when nothing answers or
    the key is rejected.
    """
    base = api_base(url)
    models = f"{base}/v1/models"
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        urllib.request.urlopen(urllib.request.Request(models, headers=headers), timeout=10).close()
    except urllib.error.HTTPError as e:
        if e.code == 404:
            raise RecipeError(f"{field}: {wrong_path(models)}") from None
        if e.code in (401, 403):
            raise ServerError(f"the endpoint {base} rejected the API key (HTTP {e.code})") from None
        # any other HTTP answer: a server is there
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise ServerError(f"the endpoint {base} does not answer during {during}: {reason}"
                          ) from None
    return base


def api_key_from(env_name: str | None, field: str = "--api-key-env") -> str | None:
    """The API key held by the environment variable ``env_name`` (keys never travel on argv
    and are never logged); RecipeError when the variable is named but not set."""
    if not env_name:
        return None
    key = os.environ.get(env_name)
    if not key:
        raise RecipeError(f"{field}: the environment variable {env_name} is not set")
    return key


def server_version(base_url: str) -> str | None:
    """What ``GET /version`` says (vLLM's version), or None when the server does not say."""
    try:
        with urllib.request.urlopen(f"{api_base(base_url)}/version", timeout=5) as resp:
            version = (json.loads(resp.read() or b"{}") or {}).get("version")
    except (urllib.error.URLError, OSError, ValueError, AttributeError):
        return None
    return str(version) if version else None
