"""Logging for every entry point: to stderr (stdout carries replies), quiet libraries, and Rasa's
structlog filtered to warnings so message texts in its debug events are never written."""

from __future__ import annotations

import logging
import sys
import warnings

NOISY = ("rasa", "rasa_sdk", "tensorflow", "absl", "sanic", "httpx", "httpcore", "matplotlib", "asyncio",
         "apscheduler", "urllib3", "telegram", "aiohttp.access")


def configure_logging(level: int = logging.WARNING) -> None:
    import structlog

    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(level)
    for name in NOISY:
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
    structlog.configure(
        processors=[structlog.processors.add_log_level, structlog.processors.JSONRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(max(level, logging.WARNING)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    warnings.filterwarnings("ignore")
