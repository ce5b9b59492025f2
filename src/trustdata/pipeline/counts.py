"""What publishing a batch did to the raw tables: rows inserted, updated and removed.

Removed means withdrawn (a whole set left a row out), marked deleted (an explicit deletion)
or moved out of the published marks (a mark the MIS deleted): nothing is ever dropped.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, func, literal_column, select
from sqlalchemy.dialects.postgresql import Insert


@dataclass(frozen=True, slots=True)
class Counts:
    """Rows a publish inserted, updated and removed."""

    inserted: int = 0
    updated: int = 0
    removed: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.inserted + other.inserted,
            self.updated + other.updated,
            self.removed + other.removed,
        )

    @property
    def total(self) -> int:
        """Every row the publish changed."""
        return self.inserted + self.updated + self.removed


def upsert(conn: Connection, statement: Insert) -> Counts:
    """Run an INSERT ... ON CONFLICT and count its inserts and updates in the database.

    A row PostgreSQL inserted has ``xmax = 0``; an updated one does not. Counting happens in a
    CTE, so millions of marks never travel back to the client.
    """
    done = statement.returning(literal_column("(xmax = 0)").label("fresh")).cte("done")
    inserted, updated = conn.execute(
        select(
            func.count().filter(done.c.fresh),
            func.count().filter(~done.c.fresh),
        ).select_from(done)
    ).one()
    return Counts(int(inserted), int(updated))
