"""argparse with one-line usage errors, shared by ``fastbp`` and ``fastbp bench``."""

import argparse

EXIT_BAD_INPUT = 2  # the exit status of every command-line error


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse, with a usage error on one line (the usage itself is in --help)."""

    def error(self, message):
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """Help that ends each option with its default, where it has one (not None, not a flag's False)."""

    def _get_help_string(self, action):
        text = action.help or ""
        no_default = action.default is None or action.default is False or action.default == argparse.SUPPRESS
        if "%(default)" in text or no_default or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)" if text else "default: %(default)s"
