-- The headline cohort's session and enrolment counts per academy, period and pupil group:
-- the additive figures mart_attendance_measures sums into hubs and the trust (a pupil at two
-- academies counts at each, so enrolments add up across academies). An enrolment counts in
-- a period when it has at least one possible session in it. A dual registered pupil counts
-- at the main school only, as in the DfE's absence statistics (sole and main registrations);
-- a subsidiary registration is not an enrolment here.
-- Incremental by (academy_id, academic_year_start): rebuilds the partitions
-- int_enrolment_attendance_periods rebuilt since (macros/attendance_partitions.sql).
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['academy_id', 'academic_year_start'],
        on_schema_change='fail',
        pre_hook=[
            "{{ build_settings() }}",
            "{{ academy_counts_find_partitions() }}",
            "{{ attendance_partitions_clear('academy_counts_rebuild') }}",
        ],
    )
}}

with cohort as (
    select e.*
    from {{ ref('int_enrolment_attendance_periods') }} as e
    {% if is_incremental() %}
    inner join academy_counts_rebuild as r
        on e.academy_id = r.academy_id and e.academic_year_start = r.academic_year_start
    {% endif %}
    where e.compulsory_school_age
        and e.possible_sessions > 0
        and e.registration is distinct from 'subsidiary'
)

select
    {{ attendance_group_counts() }},
    now() as built_at
from cohort as c
{{ attendance_group_lateral('c') }}
group by
    c.academy_id, c.academic_year_start, c.academic_year, c.period_type, c.period,
    c.period_start, c.period_end, c.period_in_year, g.group_type, g.group_value
