-- Attendance measures for each academy, hub and trust, period and pupil group, in the headline
-- cohort (compulsory school age on 31 August before the year; leavers included). The
-- academies' additive counts (int_academy_attendance_counts) rolled up with GROUPING SETS,
-- so hub and trust figures are ratios of summed sessions and enrolments, never averages of
-- rates; rebuilt whole each run from those few thousand rows a year. Year to date moves with
-- the latest mark, so it is derived here. Served by the API, so small groups are suppressed
-- (see `suppressed`).
{{ config(pre_hook="{{ build_settings() }}") }}
{% set threshold = var('suppression_threshold', 5) %}
{% set measures = [
    'attendance_rate', 'authorised_absence_rate', 'unauthorised_absence_rate',
    'overall_absence_rate', 'persistent_absence_rate', 'severe_absence_rate',
] %}

with as_at as (
    -- Year to date runs to the latest mark date. The latest mark of each academy comes from
    -- the fact's (academy_id, mark_date) index; the fact's academies are all in
    -- stg_academies (its relationships test stops the build before this model otherwise).
    select
        max(a.last_mark) as as_at_date,
        {{ academic_year_start_of('max(a.last_mark)') }} as as_at_year_start
    from (
        select (
            select max(f.mark_date)
            from {{ ref('fct_attendance_sessions') }} as f
            where f.academy_id = s.academy_id
        ) as last_mark
        from {{ ref('stg_academies') }} as s
    ) as a
),

year_to_date_ends as (
    -- Earlier years' "year to date" runs to the same day and month, for comparing with the
    -- same period last year.
    select
        y.academic_year_start,
        (
            a.as_at_date - make_interval(years => a.as_at_year_start - y.academic_year_start)
        )::date as period_end
    from (
        select distinct academic_year_start from {{ ref('int_academy_attendance_counts') }}
    ) as y
    cross join as_at as a
    where y.academic_year_start <= a.as_at_year_start
),

earlier_year_to_date_marks as (
    -- In an earlier year, an enrolment's sessions to the same date: its whole weeks that end
    -- by then, and the marks of the week the date cuts. (In the latest year every mark is on
    -- or before the latest mark date: its year to date is the year, taken below.)
    select
        e.academy_id, e.upn, e.enrolment_start, e.registration, e.academic_year_start,
        e.academic_year, e.possible_sessions, e.attended_sessions,
        e.authorised_absence_sessions, e.unauthorised_absence_sessions
    from {{ ref('int_enrolment_attendance_periods') }} as e
    inner join year_to_date_ends as y
        on e.academic_year_start = y.academic_year_start
    cross join as_at as a
    where y.academic_year_start < a.as_at_year_start
        and e.period_type = 'week'
        and e.period_end <= y.period_end
    union all
    select
        f.academy_id, f.upn, sp.enrolment_start, sp.registration, f.academic_year_start,
        f.academic_year,
        (f.category <> 'not_possible')::int,
        (f.category in ('present', 'approved_educational_activity'))::int,
        (f.category = 'authorised_absence')::int,
        (f.category = 'unauthorised_absence')::int
    from year_to_date_ends as y
    cross join as_at as a
    cross join {{ ref('stg_academies') }} as s
    inner join {{ ref('fct_attendance_sessions') }} as f
        on f.academy_id = s.academy_id
        and f.mark_date between greatest(
            date_trunc('week', y.period_end)::date, make_date(y.academic_year_start, 9, 1)
        ) and y.period_end
    left join {{ ref('int_enrolment_spells') }} as sp
        on f.academy_id = sp.academy_id
        and f.upn = sp.upn
        and f.mark_date between sp.covers_from and sp.covers_to
    where y.academic_year_start < a.as_at_year_start
        and date_trunc('week', y.period_end)::date + 6 > y.period_end
),

earlier_year_to_date as (
    -- Per enrolment, judged on its own sessions to the date, as int_enrolment_attendance_periods
    -- judges every other period.
    select
        t.*,
        'year_to_date' as period_type,
        'to ' || to_char(y.period_end, 'MM-DD') as period,
        make_date(t.academic_year_start, 9, 1) as period_start,
        y.period_end,
        'to ' || to_char(y.period_end, 'MM-DD') as period_in_year,
        {{ absence_judgements('t') }},
        d.disadvantaged, d.fsm6, d.sen_group, d.eal, d.gender, d.year_group,
        d.compulsory_school_age
    from (
        select
            academy_id, upn, enrolment_start, registration, academic_year_start, academic_year,
            sum(possible_sessions) as possible_sessions,
            sum(attended_sessions) as attended_sessions,
            sum(authorised_absence_sessions) as authorised_absence_sessions,
            sum(unauthorised_absence_sessions) as unauthorised_absence_sessions
        from earlier_year_to_date_marks
        group by academy_id, upn, enrolment_start, registration, academic_year_start, academic_year
    ) as t
    inner join year_to_date_ends as y
        on t.academic_year_start = y.academic_year_start
    left join {{ ref('dim_pupil_characteristics') }} as d
        on t.academy_id = d.academy_id
        and t.upn = d.upn
        and t.academic_year_start = d.academic_year_start
),

earlier_year_to_date_counts as (
    select {{ attendance_group_counts() }}
    from earlier_year_to_date as c
    {{ attendance_group_lateral('c') }}
    where c.compulsory_school_age
        and c.possible_sessions > 0
        and c.registration is distinct from 'subsidiary'
    group by
        c.academy_id, c.academic_year_start, c.academic_year, c.period_type, c.period,
        c.period_start, c.period_end, c.period_in_year, g.group_type, g.group_value
),

academy_counts as (
    select
        academy_id, academic_year_start, academic_year, period_type, period, period_start,
        period_end, period_in_year, group_type, group_value, enrolments, possible_sessions,
        attended_sessions, authorised_absence_sessions, unauthorised_absence_sessions,
        persistent_absence_enrolments, severe_absence_enrolments
    from {{ ref('int_academy_attendance_counts') }}
    union all
    -- The latest year's year to date is its academic year, relabelled.
    select
        c.academy_id, c.academic_year_start, c.academic_year, 'year_to_date',
        'to ' || to_char(a.as_at_date, 'MM-DD'), c.period_start, a.as_at_date,
        'to ' || to_char(a.as_at_date, 'MM-DD'), c.group_type, c.group_value, c.enrolments,
        c.possible_sessions, c.attended_sessions, c.authorised_absence_sessions,
        c.unauthorised_absence_sessions, c.persistent_absence_enrolments,
        c.severe_absence_enrolments
    from {{ ref('int_academy_attendance_counts') }} as c
    inner join as_at as a
        on c.academic_year_start = a.as_at_year_start
    where c.period_type = 'academic_year'
    union all
    select
        academy_id, academic_year_start, academic_year, period_type, period, period_start,
        period_end, period_in_year, group_type, group_value, enrolments, possible_sessions,
        attended_sessions, authorised_absence_sessions, unauthorised_absence_sessions,
        persistent_absence_enrolments, severe_absence_enrolments
    from earlier_year_to_date_counts
),

grouped as (
    select c.*, a.academy_name, a.hub_id, a.hub_name, a.trust_id, a.trust_name
    from academy_counts as c
    inner join {{ ref('stg_academies') }} as a
        on c.academy_id = a.academy_id
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
        sum(enrolments)::bigint as enrolments,
        sum(possible_sessions)::bigint as possible_sessions,
        sum(attended_sessions)::bigint as attended_sessions,
        sum(authorised_absence_sessions)::bigint as authorised_absence_sessions,
        sum(unauthorised_absence_sessions)::bigint as unauthorised_absence_sessions,
        sum(persistent_absence_enrolments)::bigint as persistent_absence_enrolments,
        sum(severe_absence_enrolments)::bigint as severe_absence_enrolments
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

last_year as (
    -- The same unit, period_in_year and group a year earlier, shown only when that row was not
    -- suppressed. A window over the years of each (unit, period_in_year, group), which are
    -- unique per year, rather than a self-join the planner could only merge on a prefix of
    -- its keys (millions of row pairs compared at a trust's scale).
    select
        level, unit_id, academic_year, period_type, period, group_type, group_value,
        {% for m in measures %}
        case
            when lag(academic_year_start) over years = academic_year_start - 1
                and not lag(suppressed) over years
                then lag({{ m }}_exact) over years
        end as {{ m }}_exact{{ ',' if not loop.last }}
        {% endfor %}
    from suppression
    window years as (
        partition by level, unit_id, period_type, period_in_year, group_type, group_value
        order by academic_year_start
    )
),

gaps as (
    -- Disadvantaged minus other, from the unrounded rates; NULL when either is suppressed.
    select
        level, unit_id, academic_year, academic_year_start, period_type, period, period_in_year,
        {% for m in measures %}
        max({{ m }}_exact) filter (where group_value = 'disadvantaged' and not suppressed)
            - max({{ m }}_exact) filter (where group_value = 'other' and not suppressed)
            as {{ m }}_gap_pp{{ ',' if not loop.last }}
        {% endfor %}
    from suppression
    where group_type = 'disadvantage'
    group by
        level, unit_id, academic_year, academic_year_start, period_type, period, period_in_year
),

gap_trends as (
    -- Each gap beside the same unit's gap in the same period_in_year a year earlier (NULL
    -- when there was none or it was suppressed), as last_year does for the rates.
    select
        *,
        {% for m in measures %}
        case
            when lag(academic_year_start) over years = academic_year_start - 1
                then lag({{ m }}_gap_pp) over years
        end as {{ m }}_gap_pp_last_year{{ ',' if not loop.last }}
        {% endfor %}
    from gaps
    window years as (
        partition by level, unit_id, period_type, period_in_year order by academic_year_start
    )
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
    round(g.{{ m }}_gap_pp_last_year, 2) as {{ m }}_gap_pp_last_year,
    round(g.{{ m }}_gap_pp - g.{{ m }}_gap_pp_last_year, 2) as {{ m }}_gap_pp_change,
    {% endfor %}
    -- The same period last year (same unit, group and period_in_year), when not suppressed;
    -- the change is from unrounded rates and needs both years shown.
    {% for m in measures %}
    round(ly.{{ m }}_exact, 2) as {{ m }}_last_year,
    case when not s.suppressed then round(s.{{ m }}_exact - ly.{{ m }}_exact, 2) end
        as {{ m }}_change_pp{{ ',' if not loop.last }}
    {% endfor %}
from suppression as s
left join last_year as ly
    on s.level = ly.level
    and s.unit_id = ly.unit_id
    and s.academic_year = ly.academic_year
    and s.period_type = ly.period_type
    and s.period = ly.period
    and s.group_type = ly.group_type
    and s.group_value = ly.group_value
left join gap_trends as g
    on s.level = g.level
    and s.unit_id = g.unit_id
    and s.academic_year = g.academic_year
    and s.period_type = g.period_type
    and s.period = g.period
