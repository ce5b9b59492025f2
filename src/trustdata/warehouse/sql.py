"""SQL text the pipeline writes itself, where the statement takes no bound parameters."""

from __future__ import annotations


def sql_literal(value: str) -> str:
    """``value`` as a SQL string literal.

    For DDL and for query text built ahead of time (GX's custom checks), which take no
    parameters. Quotes are doubled; a backslash needs nothing while the server's
    ``standard_conforming_strings`` is on (its default since PostgreSQL 9.1). A driver or
    SQLAlchemy may still read ``%s`` or ``:name`` in the text as placeholders: the values
    written this way (academy ids, which the config limits to letters, digits and ``_``; ISO
    dates; national codes) hold neither.
    """
    return "'" + value.replace("'", "''") + "'"
