-- Session counts per enrolment and period, with the flags the measures group by. Persistent
-- and severe absence are judged here, on each enrolment's own possible sessions in the
-- period, so a pupil who moved academy is judged separately at each (DfE: per enrolment).
{{ config(materialized='table') }}

with calendar as (
    select
        *,
        min(covers_from) over (partition by academic_year_start, term) as term_from,
        max(covers_to) over (partition by academic_year_start, term) as term_to,
        -- Weeks are numbered from the week of the year's first teaching day, so that week n of
        -- one year compares with week n of the year before.
        date_trunc('week', min(first_day) over (partition by academic_year_start))::date
            as first_week_start
    from {{ ref('int_calendar_half_terms') }}
),

as_at as (
    -- Year to date runs to the latest mark date; earlier years' "year to date" runs to the
    -- same day and month, for comparing with the same period last year.
    select
        max(mark_date) as as_at_date,
        max(academic_year_start) as as_at_year_start
    from {{ ref('fct_attendance_sessions') }}
),

marks as (
    select
        f.academy_id,
        f.upn,
        f.mark_date,
        f.category,
        f.academic_year_start,
        f.academic_year,
        s.enrolment_start,
        s.registration,
        c.term,
        c.term_from,
        c.term_to,
        c.half_term,
        c.covers_from as half_term_from,
        c.covers_to as half_term_to,
        date_trunc('week', f.mark_date)::date as week_start,
        (date_trunc('week', f.mark_date)::date - c.first_week_start) / 7 + 1 as week_number,
        (
            a.as_at_date - make_interval(years => a.as_at_year_start - f.academic_year_start)
        )::date as year_to_date_end
    from {{ ref('fct_attendance_sessions') }} as f
    cross join as_at as a
    left join calendar as c
        on f.mark_date between c.covers_from and c.covers_to
    left join {{ ref('int_enrolment_spells') }} as s
        on f.academy_id = s.academy_id
        and f.upn = s.upn
        and f.mark_date between s.covers_from and s.covers_to
),

counted as (
    select
        m.academy_id,
        m.upn,
        m.enrolment_start,
        m.registration,
        m.academic_year_start,
        m.academic_year,
        p.period_type,
        p.period,
        p.period_start,
        p.period_end,
        p.period_in_year,
        count(*) as marks,
        count(*) filter (where m.category <> 'not_possible') as possible_sessions,
        count(*) filter (
            where m.category in ('present', 'approved_educational_activity')
        ) as attended_sessions,
        count(*) filter (where m.category = 'authorised_absence') as authorised_absence_sessions,
        count(*) filter (
            where m.category = 'unauthorised_absence'
        ) as unauthorised_absence_sessions
    from marks as m
    cross join lateral (
        values
            (
                'academic_year', m.academic_year,
                make_date(m.academic_year_start, 9, 1),
                make_date(m.academic_year_start + 1, 8, 31),
                'year'
            ),
            ('term', m.term, m.term_from, m.term_to, m.term),
            ('half_term', m.half_term, m.half_term_from, m.half_term_to, m.half_term),
            (
                'week', to_char(m.week_start, 'YYYY-MM-DD'), m.week_start, m.week_start + 6,
                'week ' || lpad(m.week_number::text, 2, '0')
            ),
            (
                'year_to_date', 'to ' || to_char(m.year_to_date_end, 'MM-DD'),
                make_date(m.academic_year_start, 9, 1), m.year_to_date_end,
                'to ' || to_char(m.year_to_date_end, 'MM-DD')
            )
    ) as p (period_type, period, period_start, period_end, period_in_year)
    where p.period_type <> 'year_to_date' or m.mark_date <= m.year_to_date_end
    group by
        m.academy_id, m.upn, m.enrolment_start, m.registration, m.academic_year_start,
        m.academic_year,
        p.period_type, p.period, p.period_start, p.period_end, p.period_in_year
)

select
    c.*,
    c.authorised_absence_sessions + c.unauthorised_absence_sessions as absence_sessions,
    -- Integer comparisons: absence / possible >= 10% and >= 50%, without rounding.
    c.possible_sessions > 0
        and 10 * (c.authorised_absence_sessions + c.unauthorised_absence_sessions)
        >= c.possible_sessions as persistent_absence,
    c.possible_sessions > 0
        and 2 * (c.authorised_absence_sessions + c.unauthorised_absence_sessions)
        >= c.possible_sessions as severe_absence,
    d.disadvantaged,
    d.fsm6,
    d.service_child,
    d.sen_group,
    d.eal,
    d.gender,
    d.year_group,
    d.compulsory_school_age
from counted as c
left join {{ ref('dim_pupil_characteristics') }} as d
    on c.academy_id = d.academy_id
    and c.upn = d.upn
    and c.academic_year_start = d.academic_year_start
