-- One row per pupil enrolment and academic year with marks, with the session counts and the
-- flags that decide which measures the pupil counts in. The counts are the pupil's enrolment
-- spells' academic_year rows summed (every mark of the year is in exactly one), rather than
-- the marks counted again. A subsidiary (dual) registration is not an enrolment here.
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
        -- Sole and main registrations, as in the DfE's absence statistics and
        -- mart_attendance_measures: a dual-registered pupil counts at the main school only.
        and registration is distinct from 'subsidiary'
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
    -- Disadvantage and age as dim_pupil_characteristics has them for this academic year (the
    -- dated FSM, CLA and PLAC periods where the MIS sends them, else the record's flags), so
    -- the gap mart and mart_attendance_measures count the same pupils as disadvantaged: a
    -- pupil whose FSM began after a year ended is not disadvantaged in that year. NULL only
    -- when the pupil record is missing (tested).
    d.disadvantaged,
    -- Age on 31 August before the academic year; NULL when the date of birth is unknown
    -- (tested), so no pupil leaves the headline cohort unnoticed.
    d.age_at_start_of_year,
    d.compulsory_school_age
from sessions as s
left join {{ ref('dim_pupil_characteristics') }} as d
    on s.academy_id = d.academy_id
    and s.upn = d.upn
    and s.academic_year_start = d.academic_year_start
