"""The typed error of the demo world (kept here so the world owns its one error)."""

from __future__ import annotations

from engine.errors import CirsearchError


class WorldError(CirsearchError):
    """A demo world cannot be generated, read or scored as asked (bad config, bad file, unknown name)."""
