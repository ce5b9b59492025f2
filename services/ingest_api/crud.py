"""Queries the routes run: keyword-only, bound parameters, one function per question."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import literal, tuple_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from ingest_api.models import (
    AcademyPublic,
    AttainmentMeasures,
    AttendanceGap,
    AttendanceMeasures,
    FeedFreshness,
    FeedQuality,
    HubPublic,
    PupilAttendance,
    RunPublic,
)
from trustdata.orchestration.freshness import freshness_rows
from trustdata.orchestration.quality import quality_rows
from trustdata.warehouse.tables import academies, batches
from trustdata.warehouse.tables import hubs as hub_table


def attendance_gap(
    session: Session, *, level: str, unit_id: str, academic_year: str | None
) -> AttendanceGap | None:
    """The gap row of one unit for a year (the latest year when none is given)."""
    query = select(AttendanceGap).where(
        AttendanceGap.level == level, AttendanceGap.unit_id == unit_id
    )
    if academic_year is not None:
        query = query.where(AttendanceGap.academic_year == academic_year)
    query = query.order_by(col(AttendanceGap.academic_year_start).desc()).limit(1)
    return session.exec(query).first()


def years_available(session: Session, *, level: str, unit_id: str) -> list[str]:
    """The academic years the mart holds for a unit, newest first."""
    query = (
        select(AttendanceGap.academic_year)
        .where(AttendanceGap.level == level, AttendanceGap.unit_id == unit_id)
        .order_by(col(AttendanceGap.academic_year_start).desc())
    )
    return list(session.exec(query).all())


def list_academies(session: Session) -> list[AcademyPublic]:
    """Every academy in the trust config, by id."""
    rows = session.connection().execute(
        sa_select(
            academies.c.academy_id,
            academies.c.name,
            academies.c.urn,
            academies.c.phase,
            academies.c.hub_id,
        ).order_by(academies.c.academy_id)
    )
    return [
        AcademyPublic(id=r.academy_id, name=r.name, urn=r.urn, phase=r.phase, hub_id=r.hub_id)
        for r in rows
    ]


def unit_exists(session: Session, *, level: str, unit_id: str) -> bool:
    """True when the trust config knows this academy, hub or trust."""
    from trustdata.warehouse.tables import hubs, trust

    table, column = {
        "academy": (academies, academies.c.academy_id),
        "hub": (hubs, hubs.c.hub_id),
        "trust": (trust, trust.c.trust_id),
    }[level]
    found = session.connection().execute(
        sa_select(column).select_from(table).where(column == unit_id)
    )
    return found.first() is not None


def freshness(session: Session, *, academy_id: str | None) -> list[FeedFreshness]:
    """Each feed's last publish and latest run (the query ``trustdata status`` runs too)."""
    rows = freshness_rows(session.connection(), academy_id)
    return [FeedFreshness.model_validate(row) for row in rows]


def quality(session: Session, *, academy_id: str | None) -> list[FeedQuality]:
    """Each feed's latest audit: failing checks with counts and examples, rows waiting."""
    rows = quality_rows(session.connection(), academy_id)
    return [FeedQuality.model_validate({**row, "batch_id": str(row["batch_id"])}) for row in rows]


def pupil_years(session: Session, *, academy_id: str) -> list[str]:
    """The academic years the pupil mart holds for an academy, newest first."""
    query = (
        select(PupilAttendance.academic_year)
        .where(PupilAttendance.academy_id == academy_id)
        .distinct()
        .order_by(col(PupilAttendance.academic_year).desc())
    )
    return list(session.exec(query).all())


def pupil_attendance(
    session: Session,
    *,
    academy_id: str,
    academic_year: str,
    after: str | None,
    limit: int,
) -> list[PupilAttendance]:
    """A page of an academy's enrolments in a year in record-key order, after ``after``."""
    query = select(PupilAttendance).where(
        PupilAttendance.academy_id == academy_id, PupilAttendance.academic_year == academic_year
    )
    if after is not None:
        query = query.where(col(PupilAttendance.record_key) > after)
    query = query.order_by(col(PupilAttendance.record_key)).limit(limit)
    return list(session.exec(query).all())


UnitMart = TypeVar("UnitMart", AttendanceMeasures, AttainmentMeasures)


def _unit_page(
    session: Session,
    model: type[UnitMart],
    *,
    unit: tuple[str, str, str],
    filters: tuple[tuple[Any, str | None], ...],
    key: tuple[Any, ...],
    after: tuple[Any, ...] | None,
    limit: int,
) -> list[UnitMart]:
    """A keyset page of a unit mart: one unit's rows of a year (``unit``: level, unit id,
    academic year), with each (column, value) of ``filters`` whose value is given, in ``key``
    order, after the key ``after``."""
    level, unit_id, academic_year = unit
    query = select(model).where(
        model.level == level, model.unit_id == unit_id, model.academic_year == academic_year
    )
    for column, value in filters:
        if value is not None:
            query = query.where(column == value)
    order = tuple(col(c) for c in key)
    if after is not None:
        query = query.where(tuple_(*order) > tuple_(*(literal(v) for v in after)))
    return list(session.exec(query.order_by(*order).limit(limit)).all())


def _unit_years(session: Session, model: type[UnitMart], *, level: str, unit_id: str) -> list[str]:
    """The academic years a unit mart holds for a unit, newest first."""
    query = (
        select(model.academic_year)
        .where(model.level == level, model.unit_id == unit_id)
        .distinct()
        .order_by(col(model.academic_year).desc())
    )
    return list(session.exec(query).all())


MeasuresKey = tuple[str, date, str, str, str]


def measures_key(row: AttendanceMeasures) -> MeasuresKey:
    """A row's place in the order pages of measures follow."""
    return (row.period_type, row.period_start, row.period, row.group_type, row.group_value)


def attendance_measures(
    session: Session,
    *,
    level: str,
    unit_id: str,
    academic_year: str,
    period_type: str | None,
    period: str | None,
    group_type: str | None,
    after: MeasuresKey | None,
    limit: int,
) -> list[AttendanceMeasures]:
    """A page of one unit's measures in a year, filtered, in ``measures_key`` order."""
    m = AttendanceMeasures
    return _unit_page(
        session,
        m,
        unit=(level, unit_id, academic_year),
        filters=((m.period_type, period_type), (m.period, period), (m.group_type, group_type)),
        key=(m.period_type, m.period_start, m.period, m.group_type, m.group_value),
        after=after,
        limit=limit,
    )


def measure_years(session: Session, *, level: str, unit_id: str) -> list[str]:
    """The academic years the measures mart holds for a unit, newest first."""
    return _unit_years(session, AttendanceMeasures, level=level, unit_id=unit_id)


def hubs(session: Session) -> list[HubPublic]:
    """Every hub with its academies, by id."""
    members: dict[str, list[str]] = {}
    for hub_id, academy_id in session.connection().execute(
        sa_select(academies.c.hub_id, academies.c.academy_id).order_by(academies.c.academy_id)
    ):
        members.setdefault(hub_id, []).append(academy_id)
    rows = session.connection().execute(
        sa_select(hub_table.c.hub_id, hub_table.c.name).order_by(hub_table.c.hub_id)
    )
    return [
        HubPublic(id=r.hub_id, name=r.name, academy_ids=members.get(r.hub_id, [])) for r in rows
    ]


def runs(
    session: Session,
    *,
    academy_id: str,
    stream: str | None,
    before: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[RunPublic]:
    """An academy's runs, newest first, older than ``before`` (started_at, batch_id)."""
    b = batches
    query = sa_select(b).where(b.c.academy_id == academy_id)
    if stream is not None:
        query = query.where(b.c.stream == stream)
    if before is not None:
        query = query.where(
            tuple_(b.c.started_at, b.c.batch_id) < tuple_(*(literal(v) for v in before))
        )
    query = query.order_by(b.c.started_at.desc(), b.c.batch_id.desc()).limit(limit)
    found = []
    for row in session.connection().execute(query).mappings():
        seconds = (
            (row["finished_at"] - row["started_at"]).total_seconds() if row["finished_at"] else None
        )
        fields = {k: v for k, v in row.items() if k in RunPublic.model_fields}
        found.append(
            RunPublic.model_validate(
                fields | {"batch_id": str(row["batch_id"]), "seconds": seconds}
            )
        )
    return found


AttainmentKey = tuple[str, str, str]


def attainment_key(row: AttainmentMeasures) -> AttainmentKey:
    """A row's place in the order pages of attainment follow."""
    return (row.key_stage, row.group_type, row.group_value)


def attainment_measures(
    session: Session,
    *,
    level: str,
    unit_id: str,
    academic_year: str,
    key_stage: str | None,
    group_type: str | None,
    after: AttainmentKey | None,
    limit: int,
) -> list[AttainmentMeasures]:
    """A page of one unit's attainment in a year, filtered, in ``attainment_key`` order."""
    m = AttainmentMeasures
    return _unit_page(
        session,
        m,
        unit=(level, unit_id, academic_year),
        filters=((m.key_stage, key_stage), (m.group_type, group_type)),
        key=(m.key_stage, m.group_type, m.group_value),
        after=after,
        limit=limit,
    )


def attainment_years(session: Session, *, level: str, unit_id: str) -> list[str]:
    """The academic years the attainment mart holds for a unit, newest first."""
    return _unit_years(session, AttainmentMeasures, level=level, unit_id=unit_id)
