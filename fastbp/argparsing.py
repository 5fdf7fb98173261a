"""argparse with one-line usage errors, shared by ``fastbp`` and ``fastbp bench``."""

import argparse

EXIT_BAD_INPUT = 2  # the exit status of every command-line error


class OneLineErrorParser(argparse.ArgumentParser):
    """argparse, with a usage error on one line (the usage itself is in --help)."""

    def error(self, message):
        self.exit(EXIT_BAD_INPUT, f"{self.prog}: error: {message} (see {self.prog} --help)\n")
