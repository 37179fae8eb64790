"""SQL conditions several query modules add the same way."""

from __future__ import annotations

from typing import Any


def room_and_type(room_id: str | None, table: str | None, alias: str = ""
                  ) -> tuple[str, list[Any]]:
    """` AND room_id = ? AND type = ?` for whichever of the two filters is set, and its
    parameters (`alias`: the table's alias with its dot, e.g. "m.")."""
    sql, args = "", []
    if room_id is not None:
        sql += f" AND {alias}room_id = ?"
        args.append(room_id)
    if table is not None:
        sql += f" AND {alias}type = ?"
        args.append(table)
    return sql, args
