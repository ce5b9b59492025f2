"""SQL literals written into statements that take no parameters."""

from __future__ import annotations

from sqlalchemy import Engine

from trustdata.warehouse.sql import sql_literal


def test_a_literal_reads_back_as_the_value(engine: Engine) -> None:
    values = ["academy_001", "O'Brien's", "''", "back\\\\slash", "", "tab\\tand"]
    with engine.connect() as conn:
        for value in values:
            assert conn.exec_driver_sql(f"SELECT {sql_literal(value)}").scalar_one() == value
