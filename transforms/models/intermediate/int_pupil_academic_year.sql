-- One row per pupil enrolment and academic year with marks, with the session counts and the
-- flags that decide which measures the pupil counts in. The counts are the pupil's enrolment
-- spells' academic_year rows summed (every mark of the year is in exactly one), rather than
-- the marks counted again.
with sessions as (
    select
        academy_id,
        upn,
        academic_year_start,
        academic_year,
        sum(marks)::bigint as marks,
        sum(possible_sessions)::bigint as possible_sessions,
        sum(attended_sessions)::bigint as attended_sessions
    from {{ ref('int_enrolment_attendance_periods') }}
    where period_type = 'academic_year'
    group by academy_id, upn, academic_year_start, academic_year
)

select
    s.academy_id,
    s.upn,
    s.academic_year_start,
    s.academic_year,
    s.marks,
    s.possible_sessions,
    s.attended_sessions,
    -- DfE definition: FSM6 or looked after or previously looked after. Service children are
    -- not disadvantaged. A flag the MIS left empty counts as "no", as in the DfE's own
    -- census-based measures. NULL only when the pupil record is missing (tested).
    case
        when p.upn is not null then
            coalesce(p.fsm6, false)
            or coalesce(p.in_care, false)
            or coalesce(p.previously_in_care, false)
    end as disadvantaged,
    -- Age on 31 August before the academic year; NULL when the date of birth is unknown
    -- (tested), so no pupil leaves the headline cohort unnoticed.
    date_part('year', age(make_date(s.academic_year_start, 8, 31), p.date_of_birth))::int
        as age_at_start_of_year,
    date_part('year', age(make_date(s.academic_year_start, 8, 31), p.date_of_birth))
        between 5 and 15 as compulsory_school_age
from sessions as s
left join {{ ref('stg_pupils') }} as p
    on s.academy_id = p.academy_id
    and s.upn = p.upn
