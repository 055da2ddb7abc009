"""CapoError: a user mistake (bad input, bad params) reported as one clear line, no traceback."""

from __future__ import annotations

__all__ = ["CapoError"]


class CapoError(Exception):
    """An error the user can fix: the message names the file, row and field where known."""
