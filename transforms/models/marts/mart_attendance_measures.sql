-- Attendance measures for each academy, hub and trust, period and pupil group, in the headline
-- cohort (compulsory school age on 31 August before the year; leavers included). One
-- aggregate of enrolment rows rolled up with GROUPING SETS, so hub and trust figures are
-- ratios of summed sessions and enrolments, never averages of rates. Served by the API, so
-- small groups are suppressed (see `suppressed`).
{% set threshold = var('suppression_threshold', 5) %}
{% set measures = [
    'attendance_rate', 'authorised_absence_rate', 'unauthorised_absence_rate',
    'overall_absence_rate', 'persistent_absence_rate', 'severe_absence_rate',
] %}

with cohort as (
    -- An enrolment counts in a period when it has at least one possible session in it. A dual
    -- registered pupil counts at the main school only, as in the DfE's absence statistics
    -- (sole and main registrations); a subsidiary registration is not an enrolment here.
    select e.*, a.academy_name, a.hub_id, a.hub_name, a.trust_id, a.trust_name
    from {{ ref('int_enrolment_attendance_periods') }} as e
    inner join {{ ref('stg_academies') }} as a
        on e.academy_id = a.academy_id
    where e.compulsory_school_age
        and e.possible_sessions > 0
        and e.registration is distinct from 'subsidiary'
),

grouped as (
    select c.*, g.group_type, g.group_value
    from cohort as c
    cross join lateral (
        values
            ('all', 'all'),
            ('disadvantage', case when c.disadvantaged then 'disadvantaged' else 'other' end),
            ('fsm6', case when c.fsm6 then 'fsm6' else 'not_fsm6' end),
            ('sen', c.sen_group),
            ('eal', case when c.eal then 'eal' else 'not_eal' end),
            ('gender', c.gender),
            ('year_group', c.year_group)
    ) as g (group_type, group_value)
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
        period_type,
        period,
        period_start,
        period_end,
        period_in_year,
        group_type,
        group_value,
        -- A pupil enrolled at two academies in the period counts at each (and twice above).
        count(*) as enrolments,
        sum(possible_sessions)::bigint as possible_sessions,
        sum(attended_sessions)::bigint as attended_sessions,
        sum(authorised_absence_sessions)::bigint as authorised_absence_sessions,
        sum(unauthorised_absence_sessions)::bigint as unauthorised_absence_sessions,
        count(*) filter (where persistent_absence) as persistent_absence_enrolments,
        count(*) filter (where severe_absence) as severe_absence_enrolments
    from grouped
    group by grouping sets (
        (academic_year_start, academic_year, period_type, period, period_start, period_end,
            period_in_year, group_type, group_value, trust_id, trust_name, hub_id, hub_name,
            academy_id, academy_name),
        (academic_year_start, academic_year, period_type, period, period_start, period_end,
            period_in_year, group_type, group_value, trust_id, trust_name, hub_id, hub_name),
        (academic_year_start, academic_year, period_type, period, period_start, period_end,
            period_in_year, group_type, group_value, trust_id, trust_name)
    )
),

rates as (
    select
        *,
        100.0 * attended_sessions / possible_sessions as attendance_rate_exact,
        100.0 * authorised_absence_sessions / possible_sessions as authorised_absence_rate_exact,
        100.0 * unauthorised_absence_sessions / possible_sessions
            as unauthorised_absence_rate_exact,
        100.0 * (authorised_absence_sessions + unauthorised_absence_sessions) / possible_sessions
            as overall_absence_rate_exact,
        100.0 * persistent_absence_enrolments / enrolments as persistent_absence_rate_exact,
        100.0 * severe_absence_enrolments / enrolments as severe_absence_rate_exact,
        enrolments < {{ threshold }} as below_threshold
    from rolled_up
),

suppression as (
    -- Primary: a group under the threshold. Secondary: when exactly one value of a grouping
    -- (e.g. disadvantaged, of disadvantaged/other) is under it, the smallest other value is
    -- suppressed too, or it could be worked out from the 'all' row by subtraction.
    select
        *,
        below_threshold or (
            group_type <> 'all'
            and count(*) filter (where below_threshold) over unit_grouping = 1
            and not below_threshold
            and row_number() over (
                partition by level, unit_id, academic_year, period_type, period, group_type
                order by below_threshold desc, enrolments, group_value
            ) = 2
        ) as suppressed
    from rates
    window unit_grouping as (
        partition by level, unit_id, academic_year, period_type, period, group_type
    )
),

gaps as (
    -- Disadvantaged minus other, from the unrounded rates; NULL when either is suppressed.
    select
        level, unit_id, academic_year, period_type, period,
        {% for m in measures %}
        max({{ m }}_exact) filter (where group_value = 'disadvantaged' and not suppressed)
            - max({{ m }}_exact) filter (where group_value = 'other' and not suppressed)
            as {{ m }}_gap_pp{{ ',' if not loop.last }}
        {% endfor %}
    from suppression
    where group_type = 'disadvantage'
    group by level, unit_id, academic_year, period_type, period
)

select
    s.level,
    s.unit_id,
    s.unit_name,
    s.academic_year,
    s.academic_year_start,
    s.period_type,
    s.period,
    s.period_start,
    s.period_end,
    s.period_in_year,
    s.group_type,
    s.group_value,
    s.suppressed,
    case when not s.suppressed then s.enrolments end as enrolments,
    case when not s.suppressed then s.possible_sessions end as possible_sessions,
    case when not s.suppressed then s.attended_sessions end as attended_sessions,
    case when not s.suppressed then s.authorised_absence_sessions end
        as authorised_absence_sessions,
    case when not s.suppressed then s.unauthorised_absence_sessions end
        as unauthorised_absence_sessions,
    case when not s.suppressed then s.persistent_absence_enrolments end
        as persistent_absence_enrolments,
    case when not s.suppressed then s.severe_absence_enrolments end as severe_absence_enrolments,
    {% for m in measures %}
    case when not s.suppressed then round(s.{{ m }}_exact, 2) end as {{ m }},
    {% endfor %}
    {% for m in measures %}
    round(g.{{ m }}_gap_pp, 2) as {{ m }}_gap_pp,
    {% endfor %}
    -- The same period last year (same unit, group and period_in_year), when not suppressed;
    -- the change is from unrounded rates and needs both years shown.
    {% for m in measures %}
    round(ly.{{ m }}_exact, 2) as {{ m }}_last_year,
    case when not s.suppressed then round(s.{{ m }}_exact - ly.{{ m }}_exact, 2) end
        as {{ m }}_change_pp{{ ',' if not loop.last }}
    {% endfor %}
from suppression as s
left join suppression as ly
    on s.level = ly.level
    and s.unit_id = ly.unit_id
    and s.academic_year_start - 1 = ly.academic_year_start
    and s.period_type = ly.period_type
    and s.period_in_year = ly.period_in_year
    and s.group_type = ly.group_type
    and s.group_value = ly.group_value
    and not ly.suppressed
left join gaps as g
    on s.level = g.level
    and s.unit_id = g.unit_id
    and s.academic_year = g.academic_year
    and s.period_type = g.period_type
    and s.period = g.period
