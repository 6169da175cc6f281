"""Error responses in the shape OpenAI's API uses, so OpenAI clients parse them:

    {"error": {"message": "...", "type": "...", "param": null, "code": "..."}}

`type` names the kind of error (`invalid_request_error`, `server_error`; for a
rate limit, the limit hit: `requests` or `tokens`), `code` a machine-readable
reason (`rate_limit_exceeded`), `param` the request field at fault, if any.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web


def openai_error(status: int, message: str, *, type: str, code: str | None = None,
                 param: str | None = None,
                 headers: Mapping[str, str] | None = None) -> web.Response:
    body = {"error": {"message": message, "type": type, "param": param, "code": code}}
    return web.json_response(body, status=status, headers=headers)
