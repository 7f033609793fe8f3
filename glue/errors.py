"""The one base class of errors the CLI shows as a single clear line (and exit code 1).

Anything else escaping a command is a bug and keeps its traceback.
"""


class BubbleError(ValueError):
    """An error whose message is complete and meant for the operator."""
