"""`eliza db`: the database of a server, from the command line.

- `eliza db migrate`: apply the pending migrations (core and installed plugins') of the
  configured store: PostgreSQL when `POSTGRES_URL` (or `DATABASE_URL`) is set, else the
  SQLite file in the data directory.
- `eliza db status [--json]`: which store, applied and pending migrations, row counts,
  whether vector search is available (and why not).
- `eliza db copy --from <data dir> [--to <postgres url>]`: an embedded database into an
  empty PostgreSQL database (`eliza.dbtool.copy`).

A failure is one line on stderr and exit status 1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..errors import DatabaseUnavailable, StartupError
from ..settings import Settings
from .common import DbToolError


def add_parser(commands: Any) -> None:
    """The `db` command and its subcommands, on the `eliza` parser's subparsers."""
    db = commands.add_parser("db", help="migrate, inspect or copy the database")
    actions = db.add_subparsers(dest="db_command", required=True)
    actions.add_parser("migrate", help="apply pending migrations to the configured database")
    status = actions.add_parser("status", help="migrations, row counts, vector search")
    status.add_argument("--json", action="store_true", help="print JSON")
    copy = actions.add_parser(
        "copy", help="copy an embedded (SQLite) database into an empty PostgreSQL database")
    copy.add_argument("--from", dest="source", required=True, type=Path, metavar="DATA_DIR",
                      help="the data directory of the SQLite server (holds eliza.db)")
    copy.add_argument("--to", dest="target", metavar="POSTGRES_URL",
                      help="the PostgreSQL database (default POSTGRES_URL)")
    copy.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from . import inspect

    try:
        if args.db_command == "migrate":
            inspect.migrate(settings, sys.stdout)
        elif args.db_command == "status":
            inspect.print_status(inspect.status(settings), sys.stdout, as_json=args.json)
        elif args.db_command == "copy":
            from .copy import copy_database

            url = args.target or settings.database_url
            if not url:
                raise DbToolError("no target: give --to <postgres url> or set POSTGRES_URL")
            return copy_database(args.source, url, sys.stdout,
                                 progress=not args.no_progress)
    except (DbToolError, DatabaseUnavailable, StartupError) as exc:
        print(f"eliza: {exc}", file=sys.stderr)
        return 1
    return 0
