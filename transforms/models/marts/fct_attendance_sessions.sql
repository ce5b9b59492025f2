-- The attendance fact: each pupil's current mark per session, classified by the code table in
-- force on its date. Incremental: a run re-does only the (academy, date) partitions touched
-- since the last run (delete+insert keyed on academy and date; macros/attendance_fact_hooks.sql
-- says what touches a date), so a day of new or corrected marks rebuilds that day.
-- `dbt build --full-refresh` rebuilds everything (needed after a change to the code table).
-- The incremental branch reads these too; named here so dbt knows before the first run.
-- depends_on: {{ ref('stg_attendance_marks') }}
-- depends_on: {{ source('raw', 'attendance_marks_superseded') }}
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
        ],
        pre_hook="{{ attendance_fact_clear_superseded_dates() }}",
        post_hook=[
            "{{ attendance_fact_drop_deleted_pupils() }}",
            "{{ attendance_fact_resync_delete() }}",
            "{{ attendance_fact_resync_insert() }}",
        ],
    )
}}

select
    {{ attendance_fact_columns() }}
from {{ ref('int_attendance_marks_classified') }} as m
{% if is_incremental() %}
where (m.academy_id, m.mark_date) in ({{ attendance_fact_touched_dates() }})
{% endif %}
