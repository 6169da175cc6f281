"""aiohttp's log of requests its HTTP parser refused, without what the client sent.

aiohttp logs each malformed request (a bad header, a line too long, broken chunking) as an
ERROR with the parser's exception, whose message quotes the offending line: that can be an
`Authorization` header with a key in it, and every malformed request would also add a
traceback to the server's output. `ParserErrorFilter` turns such a record into one
WARNING line naming the client and the kind of error; other records pass unchanged.
"""

from __future__ import annotations

import logging

from aiohttp.http_exceptions import HttpProcessingError

SERVER_LOGGER = "aiohttp.server"


class ParserErrorFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            client = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
            record.msg = "refused a malformed HTTP request from %s: %s (%s)"
            record.args = (client, type(error).__name__, error.code)
            record.exc_info = None
            record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def quiet_parser_errors() -> None:
    """Install the filter on aiohttp's server logger (once per process)."""
    logger = logging.getLogger(SERVER_LOGGER)
    if not any(isinstance(f, ParserErrorFilter) for f in logger.filters):
        logger.addFilter(ParserErrorFilter())
