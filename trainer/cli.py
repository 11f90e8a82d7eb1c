"""``cirsearch-train``: one subcommand per module in ``trainer.commands``.

Each command module defines ``NAME``, ``HELP``, ``add_arguments(parser)`` and
``run(args) -> int``. Library code never sees the argparse namespace: ``run``
turns it into a frozen config and calls the library.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from trainer.commands import eval as eval_command
from trainer.commands import export, import_qure, mine, personalize, pretrain, quantize, train

# Subcommand modules, in the order ``--help`` lists them.
COMMANDS = (import_qure, export, quantize, pretrain, train, eval_command, mine, personalize)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cirsearch-train", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for mod in COMMANDS:
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # stdout went to a reader that stopped (| head): say nothing more
        return 1
    except OSError as e:  # a folder that cannot be made, a full disk, a file that went away: one line, not a traceback
        print(f"error: {os_error_message(e)}", file=sys.stderr)
        return 2


def os_error_message(e: OSError) -> str:
    """``No such file or directory: /x/y`` (both paths of a rename), else the error's own text."""
    if e.strerror and e.filename is not None:
        paths = f"{e.filename} -> {e.filename2}" if e.filename2 is not None else f"{e.filename}"
        return f"{e.strerror}: {paths}"
    return e.strerror or str(e) or type(e).__name__


if __name__ == "__main__":
    sys.exit(main())
