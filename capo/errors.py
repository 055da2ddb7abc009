"""CapoError: a user mistake (bad input, bad params) reported as one clear line, no traceback."""

from __future__ import annotations

__all__ = ["EXIT_INPUT", "EXIT_USAGE", "CapoError"]

# Exit codes of the `capo` command and of every pipeline stage, documented in the README:
EXIT_USAGE = 2  # the command line itself is wrong (argparse's own code)
EXIT_INPUT = 3  # the command line is fine, but a file, row, field or parameter is not


class CapoError(Exception):
    """An error the user can fix: the message names the file, row and field where known."""
