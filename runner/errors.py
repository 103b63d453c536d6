"""Errors the command line reports in one line with exit status 2 (bad input)."""

from __future__ import annotations


class ConfigError(Exception):
    """A setting (environment variable or flag) is missing or invalid; the message names it."""
