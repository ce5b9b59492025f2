-- Attendance of disadvantaged pupils against other pupils, for each academy, hub and trust.
-- One aggregate at academy grain, rolled up with GROUPING SETS so that hub and trust figures
-- are sums of the same session counts (rates are ratios of sums, never averages of rates).
-- Headline cohort only: pupils of compulsory school age, leavers included.
-- Served by the API, so a group of fewer than var('suppression_threshold', 5) pupils has its
-- figures (and the gap) suppressed: NULL, with `<group>_suppressed` true; so has the other
-- group then, which the unit's total would otherwise give away.
{% set threshold = var('suppression_threshold', 5) %}
with cohort as (
    select
        py.academy_id,
        a.academy_name,
        a.hub_id,
        a.hub_name,
        a.trust_id,
        a.trust_name,
        py.academic_year_start,
        py.academic_year,
        py.disadvantaged,
        py.possible_sessions,
        py.attended_sessions
    from {{ ref('int_pupil_academic_year') }} as py
    inner join {{ ref('stg_academies') }} as a
        on py.academy_id = a.academy_id
    where py.compulsory_school_age
),

academy_year as (
    -- A pupil counts when they had at least one possible session: a pupil whose every mark
    -- was "not possible" (e.g. dual registered, attending elsewhere) adds nothing to a rate.
    select
        academy_id, academy_name, hub_id, hub_name, trust_id, trust_name,
        academic_year_start, academic_year,
        count(*) filter (where disadvantaged and possible_sessions > 0) as disadvantaged_pupils,
        count(*) filter (where not disadvantaged and possible_sessions > 0) as other_pupils,
        coalesce(sum(possible_sessions) filter (where disadvantaged), 0)
            as disadvantaged_possible_sessions,
        coalesce(sum(attended_sessions) filter (where disadvantaged), 0)
            as disadvantaged_attended_sessions,
        coalesce(sum(possible_sessions) filter (where not disadvantaged), 0)
            as other_possible_sessions,
        coalesce(sum(attended_sessions) filter (where not disadvantaged), 0)
            as other_attended_sessions
    from cohort
    group by
        academy_id, academy_name, hub_id, hub_name, trust_id, trust_name,
        academic_year_start, academic_year
),

rolled_up as (
    select
        case
            when grouping(academy_id) = 0 then 'academy'
            when grouping(hub_id) = 0 then 'hub'
            else 'trust'
        end as level,
        case
            when grouping(academy_id) = 0 then academy_id
            when grouping(hub_id) = 0 then hub_id
            else trust_id
        end as unit_id,
        case
            when grouping(academy_id) = 0 then academy_name
            when grouping(hub_id) = 0 then hub_name
            else trust_name
        end as unit_name,
        academic_year,
        academic_year_start,
        -- Pupils are enrolments: a pupil at two academies in a year counts at each.
        sum(disadvantaged_pupils)::bigint as disadvantaged_pupils,
        sum(other_pupils)::bigint as other_pupils,
        sum(disadvantaged_possible_sessions)::bigint as disadvantaged_possible_sessions,
        sum(disadvantaged_attended_sessions)::bigint as disadvantaged_attended_sessions,
        sum(other_possible_sessions)::bigint as other_possible_sessions,
        sum(other_attended_sessions)::bigint as other_attended_sessions
    from academy_year
    group by grouping sets (
        (academic_year_start, academic_year, trust_id, trust_name, hub_id, hub_name,
            academy_id, academy_name),
        (academic_year_start, academic_year, trust_id, trust_name, hub_id, hub_name),
        (academic_year_start, academic_year, trust_id, trust_name)
    )
),

rates as (
    select
        *,
        100.0 * disadvantaged_attended_sessions
            / nullif(disadvantaged_possible_sessions, 0) as disadvantaged_rate_exact,
        100.0 * other_attended_sessions / nullif(other_possible_sessions, 0) as other_rate_exact
    from rolled_up
),

small as (
    select
        *,
        disadvantaged_pupils > 0 and disadvantaged_pupils < {{ threshold }} as disadvantaged_small,
        other_pupils > 0 and other_pupils < {{ threshold }} as other_small
    from rates
),

flagged as (
    -- When one group is small, the other is withheld too: mart_attendance_measures serves the
    -- unit's 'all' row, from which the small group could be worked out by subtraction (the
    -- same secondary suppression as there).
    select
        *,
        disadvantaged_small or (other_small and disadvantaged_pupils > 0)
            as disadvantaged_suppressed,
        other_small or (disadvantaged_small and other_pupils > 0) as other_suppressed
    from small
)

select
    level,
    unit_id,
    unit_name,
    academic_year,
    academic_year_start,
    disadvantaged_suppressed,
    other_suppressed,
    case when not disadvantaged_suppressed then disadvantaged_pupils end
        as disadvantaged_pupils,
    case when not other_suppressed then other_pupils end as other_pupils,
    case when not disadvantaged_suppressed then disadvantaged_possible_sessions end
        as disadvantaged_possible_sessions,
    case when not disadvantaged_suppressed then disadvantaged_attended_sessions end
        as disadvantaged_attended_sessions,
    case when not other_suppressed then other_possible_sessions end as other_possible_sessions,
    case when not other_suppressed then other_attended_sessions end as other_attended_sessions,
    case when not disadvantaged_suppressed then round(disadvantaged_rate_exact, 2) end
        as disadvantaged_attendance_rate,
    case when not other_suppressed then round(other_rate_exact, 2) end as other_attendance_rate,
    -- From the unrounded rates, so the gap is not off by a rounding step.
    case when not (disadvantaged_suppressed or other_suppressed)
        then round(disadvantaged_rate_exact - other_rate_exact, 2)
    end as attendance_gap_pp
from flagged
