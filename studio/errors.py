"""The root of every error the studio raises on purpose.

A :class:`StudioError` is an expected failure whose message is written for the user: a
malformed file, an unknown model, a renderer that cannot start here. Command lines catch this
one class (see :func:`studio.cli.main`) and print its message in one line; anything else that
escapes is a bug and keeps its traceback. Subclasses also derive from the built-in type that
describes them (``ValueError`` for bad input, ``RuntimeError`` for an unavailable service), so
callers that catch those keep working.
"""


class StudioError(Exception):
    """An expected failure with a message meant for the person who caused it."""


class UsageError(StudioError):
    """A command-line mistake (a wrong option, a missing setting), reported in one line."""
