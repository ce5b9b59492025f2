"""Write the trust's structure (trust, hubs, academies) from its config into ``meta``."""

from __future__ import annotations

from sqlalchemy import Engine, delete, func
from sqlalchemy.dialects.postgresql import insert

from trustdata.config.trust import TrustConfig
from trustdata.warehouse.tables import academies, hubs, trust


def sync_structure(engine: Engine, config: TrustConfig) -> None:
    """Make ``meta.trust``, ``meta.hubs`` and ``meta.academies`` match the config.

    Academies removed from the config are removed here too; their published data stays in raw.
    """
    with engine.begin() as conn:
        # Every academy DAG starts by calling this; one writer at a time avoids deadlocks.
        conn.exec_driver_sql("SELECT pg_advisory_xact_lock(7316002)")
        conn.execute(delete(trust).where(trust.c.trust_id != config.id))
        conn.execute(
            insert(trust)
            .values(trust_id=config.id, name=config.name)
            .on_conflict_do_update(index_elements=[trust.c.trust_id], set_={"name": config.name})
        )
        hub_rows = [{"hub_id": h.id, "trust_id": config.id, "name": h.name} for h in config.hubs]
        conn.execute(delete(hubs).where(hubs.c.hub_id.not_in([h.id for h in config.hubs])))
        statement = insert(hubs).values(hub_rows)
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=[hubs.c.hub_id],
                set_={"trust_id": statement.excluded.trust_id, "name": statement.excluded.name},
            )
        )
        conn.execute(
            delete(academies).where(academies.c.academy_id.not_in([a.id for a in config.academies]))
        )
        if not config.academies:
            return
        rows = [
            {
                "academy_id": a.id,
                "trust_id": config.id,
                "hub_id": a.hub,
                "urn": a.urn,
                "name": a.name,
                "phase": a.phase.value,
                "adapter_kind": a.adapter.kind,
            }
            for a in config.academies
        ]
        statement = insert(academies).values(rows)
        conn.execute(
            statement.on_conflict_do_update(
                index_elements=[academies.c.academy_id],
                set_={c: statement.excluded[c] for c in rows[0] if c != "academy_id"},
                where=func.row(*(academies.c[c] for c in rows[0])).is_distinct_from(
                    func.row(*(statement.excluded[c] for c in rows[0]))
                ),
            )
        )
