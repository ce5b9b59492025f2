"""The Alembic migrations build exactly the tables ``trustdata.warehouse.tables`` describes.

The pipeline's queries are written against ``tables.py``; the database is built by the
migrations. A column added to one and not the other would only show at run time, so the two
are compared here with Alembic's own autogenerate diff.
"""

from __future__ import annotations

import uuid
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, text

from tests.conftest import BATCH_TABLE
from trustdata.warehouse.migrate import alembic_config, upgrade
from trustdata.warehouse.partitions import LEAF
from trustdata.warehouse.tables import SCHEMAS, metadata


def _ours(name: str | None, type_: str, parent_names: Any) -> bool:
    if type_ == "schema":
        return name in SCHEMAS
    if type_ == "table":
        # Batches' own staging tables are made and dropped by the pipeline, not described.
        own = BATCH_TABLE.fullmatch(f"{parent_names.get('schema_name')}.{name}") or (
            parent_names.get("schema_name") == "raw" and LEAF.fullmatch(name or "")
        )
        return parent_names.get("schema_name") in SCHEMAS and name != "alembic_version" and not own
    return True


def test_migrations_match_the_table_descriptions(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={"include_schemas": True, "include_name": _ours, "compare_type": True},
        )
        differences = compare_metadata(context, metadata)
    assert differences == []


def test_a_migration_drops_a_validation_view_left_by_a_killed_process(
    engine: Engine, warehouse_url: str
) -> None:
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0012")
        conn.execute(
            text("CREATE VIEW staging.gx_batch_dead AS SELECT * FROM staging.attendance_landing")
        )
    upgrade(warehouse_url)  # 0013 is pending: views over staging tables go first
    with engine.connect() as conn:
        assert conn.execute(text("SELECT to_regclass('staging.gx_batch_dead')")).scalar() is None
        assert conn.execute(text("SELECT to_regclass('meta.validations')")).scalar()


def test_marks_staged_before_0017_move_to_their_batches_tables_and_back(
    engine: Engine, warehouse_url: str
) -> None:
    batch = uuid.uuid4()
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0016")
        conn.execute(
            text(
                "INSERT INTO staging.attendance_landing (batch_id, academy_id, mis_pupil_id, "
                "mark_date, session, source_code) VALUES (:b, 'a', 'p1', '2025-09-08', 'AM', '/'), "
                "(:b, 'a', 'p1', '2025-09-08', 'PM', '\\')"
            ),
            {"b": batch},
        )
    upgrade(warehouse_url)
    own = f'staging."attendance_landing_{batch.hex}"'
    with engine.connect() as conn:
        assert conn.execute(text(f"SELECT count(*) FROM {own}")).scalar() == 2
        assert conn.execute(text("SELECT count(*) FROM staging.attendance_landing")).scalar() == 0
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0016")
    with engine.connect() as conn:
        assert conn.execute(text(f"SELECT to_regclass('{own}')")).scalar() is None
        assert conn.execute(text("SELECT count(*) FROM staging.attendance_landing")).scalar() == 2
    upgrade(warehouse_url)


VIEW = "CREATE VIEW public.td_test_marks AS SELECT academy_id, upn FROM raw.attendance_marks"
VIEW_OF_VIEW = "CREATE VIEW public.td_test_marks_upns AS SELECT upn FROM public.td_test_marks"


def test_marks_stored_before_0018_move_into_their_partitions_and_back(
    engine: Engine, warehouse_url: str
) -> None:
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0017")
        conn.execute(
            text(
                "INSERT INTO raw.attendance_marks (academy_id, upn, mark_date, session, code, "
                "source_code, batch_id, published_at) VALUES "
                "('oak', 'U1', '2025-07-14', 'AM', '/', '/', :b, '2025-07-14 18:00+00'), "
                "('oak', 'U1', '2025-09-08', 'AM', '/', '/', :b, '2025-07-14 18:00+00'), "
                "('elm', 'U2', '2025-09-08', 'PM', 'I', 'I', :b, '2025-07-14 18:00+00')"
            ),
            {"b": uuid.uuid4()},
        )
        # As dbt's staging view reads the marks (and another view reads that one).
        conn.execute(text(VIEW))
        conn.execute(text(VIEW_OF_VIEW))
    upgrade(warehouse_url)
    by_table = (
        "SELECT tableoid::regclass::text, count(*), min(published_at) = '2025-07-14 18:00+00' "
        "FROM raw.attendance_marks GROUP BY 1 ORDER BY 1"
    )
    with engine.connect() as conn:
        assert conn.execute(text(by_table)).all() == [
            ("raw.attendance_marks_elm_2025", 1, True),
            ("raw.attendance_marks_oak_2024", 1, True),
            ("raw.attendance_marks_oak_2025", 1, True),
        ]
        assert (
            conn.execute(text("SELECT to_regclass('raw.attendance_marks_before_0018')")).scalar()
            is None
        )
        gone = (
            "SELECT to_regclass('public.td_test_marks'), to_regclass('public.td_test_marks_upns')"
        )
        assert conn.execute(text(gone)).one() == (None, None)
    with engine.begin() as conn:
        conn.execute(text(VIEW))
        config.attributes["connection"] = conn
        command.downgrade(config, "0017")
    with engine.connect() as conn:
        kind = "SELECT relkind FROM pg_class WHERE oid = 'raw.attendance_marks'::regclass"
        assert conn.execute(text(kind)).scalar() == "r"
        assert conn.execute(text(by_table)).all() == [("raw.attendance_marks", 3, True)]
        indexes = "SELECT count(*) FROM pg_index WHERE indrelid = 'raw.attendance_marks'::regclass"
        assert conn.execute(text(indexes)).scalar() == 3
        assert conn.execute(text("SELECT to_regclass('public.td_test_marks')")).scalar() is None
    upgrade(warehouse_url)
