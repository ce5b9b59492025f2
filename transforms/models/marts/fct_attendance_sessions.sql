-- The attendance fact: each pupil's current mark per session, classified by the code table in
-- force on its date. Incremental: a run re-does only the (academy, date) partitions touched
-- since the last run (delete+insert keyed on academy and date; macros/attendance_fact_hooks.sql
-- says what touches a date), so a day of new or corrected marks rebuilds that day.
-- `dbt build --full-refresh` rebuilds everything (needed after a change to the code table).
-- The incremental branch reads these too; named here so dbt knows before the first run.
-- depends_on: {{ ref('stg_attendance_marks') }}
-- depends_on: {{ source('raw', 'attendance_marks_superseded') }}
-- depends_on: {{ source('raw', 'attendance_marks') }}
-- depends_on: {{ source('raw', 'pupils') }}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['academy_id', 'mark_date'],
        on_schema_change='fail',
        indexes=[
            {'columns': ['academy_id', 'upn', 'mark_date', 'session'], 'unique': true},
            {'columns': ['academy_id', 'mark_date']},
            {'columns': ['published_at']},
            {'columns': ['loaded_at']},
        ],
        pre_hook=[
            "{{ build_settings() }}",
            "{{ attendance_fact_find_touched_dates() }}",
            "{{ attendance_fact_clear_superseded_dates() }}",
        ],
        post_hook=[
            "{{ attendance_fact_drop_deleted_pupils() }}",
            "{{ attendance_fact_find_out_of_step() }}",
            "{{ attendance_fact_resync_delete() }}",
            "{{ attendance_fact_resync_insert() }}",
            after_commit("{{ vacuum_after_full_build() }}"),
        ],
    )
}}

{% if is_incremental() %}
-- A re-done row that has not changed keeps its loaded_at, so that the look-back (which re-does
-- every date published in the last day, at every academy) does not make the models after the
-- fact rebuild academies whose marks are the same.
select
    {{ attendance_fact_columns(
        "case when o.code = m.code and o.source_code = m.source_code
            and o.category is not distinct from m.category and o.published_at = m.published_at
            then o.loaded_at else now() end"
    ) }}
from attendance_fact_touched as t
-- Lateral and kept apart (offset 0 stops the planner flattening it into this query), so
-- that each touched date reaches the view as a condition on its columns and is read through
-- raw's (mark_date, academy_id) index; joined flat, or as a semi-join, the planner
-- classified every mark first (15 s for a day of one academy at 27 million marks).
cross join lateral (
    select *
    from {{ ref('int_attendance_marks_classified') }} as c
    where c.academy_id = t.academy_id and c.mark_date = t.mark_date
    offset 0
) as m
left join {{ this }} as o
    on o.academy_id = m.academy_id
    and o.upn = m.upn
    and o.mark_date = m.mark_date
    and o.session = m.session
{% else %}
select
    {{ attendance_fact_columns() }}
from {{ ref('int_attendance_marks_classified') }} as m
{% endif %}
