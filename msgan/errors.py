"""The one exception type that means "the user gave us something we cannot use"."""


class MsganError(Exception):
    """Bad input, config or environment.

    The message is shown to the user as ``msgan: error: <message>`` with exit code 2 and no
    traceback, so it must say what is wrong and what to do, in one line.
    """
