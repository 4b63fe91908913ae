"""The one error type the engine raises for unusable files and impossible selections."""

from __future__ import annotations


class TPRDataError(ValueError):
    """A problem with the user's file or selection, worded as a sentence for an analyst.

    `str(error)` is shown to the user as is, so it never contains a traceback or jargon.
    """
