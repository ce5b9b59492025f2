-- Session counts per enrolment and period, with the flags the measures group by. Persistent
-- and severe absence are judged here, on each enrolment's own possible sessions in the
-- period, so a pupil who moved academy is judged separately at each (DfE: per enrolment).
-- Incremental by (academy_id, academic_year_start): a run rebuilds the partitions whose marks,
-- spells or pupil characteristics changed (macros/attendance_partitions.sql), so a day of
-- marks for one academy re-counts that academy's year only. Year to date is not here: it
-- moves with the latest mark date, so mart_attendance_measures derives it.
-- The pre-hook reads these too; named here so dbt orders the models.
-- depends_on: {{ ref('dim_pupil_characteristics') }}
-- depends_on: {{ ref('int_enrolment_spells') }}
{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key=['academy_id', 'academic_year_start'],
        on_schema_change='fail',
        indexes=[
            {'columns': ['academy_id', 'academic_year_start']},
            {'columns': ['built_at']},
        ],
        pre_hook=[
            "{{ build_settings() }}",
            "{{ attendance_periods_find_partitions() }}",
            "{{ attendance_partitions_analyze('attendance_periods_rebuild') }}",
            "{{ attendance_partitions_clear('attendance_periods_rebuild') }}",
            "{{ attendance_periods_hash_not_sort() }}",
        ],
        post_hook="{{ analyze_after_full_build() }}",
    )
}}

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

marks as (
    select
        f.academy_id,
        f.upn,
        f.category,
        f.academic_year_start,
        f.academic_year,
        s.enrolment_start,
        s.registration,
        cd.half_term,
        date_trunc('week', f.mark_date)::date as week_start
    from {{ ref('fct_attendance_sessions') }} as f
    {% if is_incremental() %}
    -- By the partition's columns, not a date range: the planner then expects an academy-year
    -- of marks (not a few thousand), and hashes rather than sorts them.
    inner join attendance_periods_rebuild as r
        on f.academy_id = r.academy_id
        and f.academic_year_start = r.academic_year_start
    {% endif %}
    left join {{ ref('int_calendar_days') }} as cd
        on f.mark_date = cd.calendar_date
    left join {{ ref('int_enrolment_spells') }} as s
        on f.academy_id = s.academy_id
        and f.upn = s.upn
        and f.mark_date between s.covers_from and s.covers_to
),

weekly as (
    -- Marks are counted once, per enrolment, week and half term (a week can straddle two half
    -- terms); every period below is a sum of these, which is far cheaper than counting each
    -- mark once per period.
    select
        academy_id,
        upn,
        enrolment_start,
        registration,
        academic_year_start,
        academic_year,
        half_term,
        week_start,
        count(*) as marks,
        count(*) filter (where category <> 'not_possible') as possible_sessions,
        count(*) filter (
            where category in ('present', 'approved_educational_activity')
        ) as attended_sessions,
        count(*) filter (where category = 'authorised_absence') as authorised_absence_sessions,
        count(*) filter (where category = 'unauthorised_absence') as unauthorised_absence_sessions
    from marks
    group by
        academy_id, upn, enrolment_start, registration, academic_year_start, academic_year,
        half_term, week_start
),

counted as (
    select
        w.academy_id,
        w.upn,
        w.enrolment_start,
        w.registration,
        w.academic_year_start,
        w.academic_year,
        p.period_type,
        p.period,
        p.period_start,
        p.period_end,
        p.period_in_year,
        sum(w.marks)::bigint as marks,
        sum(w.possible_sessions)::bigint as possible_sessions,
        sum(w.attended_sessions)::bigint as attended_sessions,
        sum(w.authorised_absence_sessions)::bigint as authorised_absence_sessions,
        sum(w.unauthorised_absence_sessions)::bigint as unauthorised_absence_sessions
    from weekly as w
    -- A mark outside every half term keeps NULL periods (and fails the tests), as before.
    left join calendar as c
        on w.academic_year_start = c.academic_year_start
        and w.half_term = c.half_term
    cross join lateral (
        values
            (
                'academic_year', w.academic_year,
                make_date(w.academic_year_start, 9, 1),
                make_date(w.academic_year_start + 1, 8, 31),
                'year'
            ),
            ('term', c.term, c.term_from, c.term_to, c.term),
            ('half_term', c.half_term, c.covers_from, c.covers_to, c.half_term),
            (
                'week', to_char(w.week_start, 'YYYY-MM-DD'), w.week_start, w.week_start + 6,
                'week ' || lpad(((w.week_start - c.first_week_start) / 7 + 1)::text, 2, '0')
            )
    ) as p (period_type, period, period_start, period_end, period_in_year)
    group by
        w.academy_id, w.upn, w.enrolment_start, w.registration, w.academic_year_start,
        w.academic_year,
        p.period_type, p.period, p.period_start, p.period_end, p.period_in_year
),

inputs as (
    {{ attendance_period_inputs() }}
)

select
    c.*,
    c.authorised_absence_sessions + c.unauthorised_absence_sessions as absence_sessions,
    {{ absence_judgements('c') }},
    d.disadvantaged,
    d.fsm6,
    d.service_child,
    d.sen_group,
    d.eal,
    d.gender,
    d.year_group,
    d.compulsory_school_age,
    i.inputs_digest,
    now() as built_at
from counted as c
left join {{ ref('dim_pupil_characteristics') }} as d
    on c.academy_id = d.academy_id
    and c.upn = d.upn
    and c.academic_year_start = d.academic_year_start
left join inputs as i
    on c.academy_id = i.academy_id
    and c.academic_year_start = i.academic_year_start
