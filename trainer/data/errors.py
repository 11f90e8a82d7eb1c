"""The one error type of the data layer: bad or missing dataset files, named."""

from __future__ import annotations


class DataError(ValueError):
    """A dataset file is missing or malformed; the message names the file and the fix."""
