"""The one base class of bad input: the CLI prints its message as one line, exit code 2."""


class InputError(ValueError):
    """Bad input from the user (a spec, a flag, a path, an address); the message names it."""
