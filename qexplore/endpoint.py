"""OpenAI-compatible endpoints: one spelling of a server's base URL, and one check that a URL
really is the API before any work is sent to it.

Users give either form, ``http://127.0.0.1:8000`` or ``http://127.0.0.1:8000/v1`` (the one
``qexplore serve`` prints); every stage appends ``/v1/...`` to :func:`api_base` of it.
"""

from __future__ import annotations

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
