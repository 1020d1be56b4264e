"""The `switchboard` command's exit codes, one table so a script can tell the failures apart,
and the one shape of its error messages (`fail`).

Every verb returns one of these and nothing else (argparse itself exits with USAGE on a bad
command line). Keep README "Command line" in step with this table.
"""

from __future__ import annotations

import sys

OK = 0
# An input the command was given is unreadable or wrong (`ingest-capture` of a bad file), or
# what was asked for does not exist (`replay timeline` finds no event, `adduser` of a user
# that exists).
INPUT = 1
# A bad command line, configuration, store URL, view or projection name, or a setting the
# command refuses (an API without access control on a non-loopback address).
USAGE = 2
# `replay verify` found the log or a projection not as it should be.
VERIFY_FAILED = 3
# The store could not be opened: the database server is unreachable, refuses the login, or has
# no such database; the SQLite file is not a database, or cannot be opened.
STORE_UNAVAILABLE = 4
# The API's address could not be bound: the port is in use, the address is not this machine's,
# or binding it needs privileges.
CANNOT_LISTEN = 5
# Stopped by Ctrl-C (128 + SIGINT, as a shell reports it).
INTERRUPTED = 130

TABLE: dict[int, str] = {
    OK: "success",
    INPUT: "an input file is unreadable or invalid, or what was asked for does not exist",
    USAGE: "bad command line, configuration, store URL or name; or an unsafe setting refused",
    VERIFY_FAILED: "replay verify found the log or a projection wrong",
    STORE_UNAVAILABLE: "the store could not be opened (database unreachable, login refused, "
                       "no such database, not a database file)",
    CANNOT_LISTEN: "the API's address could not be bound (port in use, address not local)",
    INTERRUPTED: "interrupted (Ctrl-C)",
}


def fail(message: str, code: int) -> int:
    """The one error shape of the command: `switchboard: <what is wrong>` on stderr, one line,
    and the exit code that says which kind of failure it was."""
    print(f"switchboard: {' '.join(message.split())}", file=sys.stderr)
    return code


def warn(message: str) -> None:
    """A problem the command got past: `switchboard: warning: ...`, one line on stderr."""
    print(f"switchboard: warning: {' '.join(message.split())}", file=sys.stderr)
