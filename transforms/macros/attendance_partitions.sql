{#
  The models after the attendance fact (int_enrolment_attendance_periods and
  int_academy_attendance_counts) are incremental by (academy_id, academic_year_start): a run
  rebuilds only the partitions whose inputs changed, so a day of marks for one academy
  rebuilds that academy's year. Each model finds its partitions in a pre-hook, into a
  temporary table its SQL joins, and empties them first (a partition left with no rows, e.g.
  after every mark of a year was deleted, must not keep its old ones).
#}

{% macro academic_year_start_of(day) -%}
    (extract(year from {{ day }})::int - case when extract(month from {{ day }}) < 9 then 1 else 0 end)
{%- endmacro %}

{#
  A digest of everything besides marks that int_enrolment_attendance_periods reads for one
  (academy, year): the academy's enrolment spells and its pupils' characteristics in the year.
  A changed FSM period or enrolment changes the digest, so the partition is rebuilt even
  though no mark changed. Both inputs are small tables (one row per spell, per pupil-year).
#}
{% macro attendance_period_inputs() -%}
    select
        c.academy_id,
        c.academic_year_start,
        md5(
            string_agg(
                (c.upn, c.disadvantaged, c.fsm6, c.service_child, c.sen_group, c.eal, c.gender,
                    c.year_group, c.compulsory_school_age)::text,
                ',' order by c.upn
            ) || coalesce(max(s.digest), '')
        )::uuid as inputs_digest
    from {{ ref('dim_pupil_characteristics') }} as c
    left join (
        select
            academy_id,
            md5(
                string_agg(
                    (upn, enrolment_start, registration, covers_from, covers_to)::text,
                    ',' order by upn, covers_from
                )
            ) as digest
        from {{ ref('int_enrolment_spells') }}
        group by academy_id
    ) as s
        on c.academy_id = s.academy_id
    group by c.academy_id, c.academic_year_start
{%- endmacro %}

{#
  Pre-hook of int_enrolment_attendance_periods: the partitions to rebuild are those with fact
  rows loaded since this model's last build (new, corrected or re-done marks), those whose
  mark count differs from the one stored (marks deleted, an academy-year that is new or gone),
  and those whose inputs digest changed. The fact's counts come from its (academy_id,
  mark_date) index; the stored ones from a scan of this model, a tenth of the fact's size.
#}
{% macro attendance_periods_find_partitions() -%}
    {%- if is_incremental() -%}
    create temporary table attendance_periods_rebuild on commit drop as
    with fact_counts as (
        select academy_id, {{ academic_year_start_of('mark_date') }} as academic_year_start,
            sum(marks) as marks
        from (
            select academy_id, mark_date, count(*) as marks
            from {{ ref('fct_attendance_sessions') }}
            group by academy_id, mark_date
        ) as days
        group by 1, 2
    ),

    stored as (
        select academy_id, academic_year_start, inputs_digest,
            sum(marks) filter (where period_type = 'academic_year') as marks
        from {{ this }}
        group by academy_id, academic_year_start, inputs_digest
    ),

    inputs as (
        {{ attendance_period_inputs() }}
    )

    select distinct academy_id, academic_year_start
    from {{ ref('fct_attendance_sessions') }}
    where loaded_at > (
        select coalesce(max(built_at), '-infinity'::timestamptz) from {{ this }}
    )
    union
    select
        coalesce(f.academy_id, s.academy_id),
        coalesce(f.academic_year_start, s.academic_year_start)
    from fact_counts as f
    full join stored as s
        on f.academy_id = s.academy_id and f.academic_year_start = s.academic_year_start
    where f.marks is distinct from s.marks
    union
    select s.academy_id, s.academic_year_start
    from stored as s
    left join inputs as i
        on s.academy_id = i.academy_id and s.academic_year_start = i.academic_year_start
    where s.inputs_digest is distinct from i.inputs_digest
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}

{#
  Pre-hook of int_enrolment_attendance_periods: group by hashing, not sorting. The planner
  cannot tell how few groups its GROUP BYs make (it expects one per mark, 27 million, where
  there are 2.8 million enrolment-weeks), so it sorts the marks on their text keys to group
  them, spilling gigabytes to disk; hashing them instead halves the run (an academy-year at
  27 million marks: 11.7 s to 6.2 s; the full build: 67 s to 60 s, with int_calendar_days and
  statistics on the tables it joins).
#}
{% macro attendance_periods_hash_not_sort() -%}
    set local enable_sort = off
{%- endmacro %}

{# Pre-hooks after a find: statistics for the planner, then empty the partitions. #}
{% macro attendance_partitions_analyze(temporary_table) -%}
    {%- if is_incremental() -%} analyze {{ temporary_table }} {%- else -%} select 1 {%- endif -%}
{%- endmacro %}

{% macro attendance_partitions_clear(temporary_table) -%}
    {%- if is_incremental() -%}
    delete from {{ this }} as t
    using {{ temporary_table }} as r
    where t.academy_id = r.academy_id and t.academic_year_start = r.academic_year_start
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}

{#
  Pre-hook of int_academy_attendance_counts: the partitions int_enrolment_attendance_periods
  rebuilt since this model's last build, and those it no longer has.
#}
{% macro academy_counts_find_partitions() -%}
    {%- if is_incremental() -%}
    create temporary table academy_counts_rebuild on commit drop as
    select distinct academy_id, academic_year_start
    from {{ ref('int_enrolment_attendance_periods') }}
    where built_at > (
        select coalesce(max(built_at), '-infinity'::timestamptz) from {{ this }}
    )
    union
    select t.academy_id, t.academic_year_start
    from (select distinct academy_id, academic_year_start from {{ this }}) as t
    where not exists (
        select 1
        from {{ ref('int_enrolment_attendance_periods') }} as e
        where e.academy_id = t.academy_id and e.academic_year_start = t.academic_year_start
    )
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}

{#
  The pupil groups of the measures and the additive counts of a set of enrolment-period rows,
  shared by int_academy_attendance_counts and the year-to-date rows of
  mart_attendance_measures, so both count alike.
#}
{% macro attendance_group_lateral(alias) -%}
    cross join lateral (
        values
            ('all', 'all'),
            ('disadvantage', case when {{ alias }}.disadvantaged then 'disadvantaged' else 'other' end),
            ('fsm6', case when {{ alias }}.fsm6 then 'fsm6' else 'not_fsm6' end),
            ('sen', {{ alias }}.sen_group),
            ('eal', case when {{ alias }}.eal then 'eal' else 'not_eal' end),
            ('gender', {{ alias }}.gender),
            ('year_group', {{ alias }}.year_group)
    ) as g (group_type, group_value)
{%- endmacro %}

{% macro attendance_group_counts() -%}
    c.academy_id,
    c.academic_year_start,
    c.academic_year,
    c.period_type,
    c.period,
    c.period_start,
    c.period_end,
    c.period_in_year,
    g.group_type,
    g.group_value,
    count(*) as enrolments,
    sum(c.possible_sessions)::bigint as possible_sessions,
    sum(c.attended_sessions)::bigint as attended_sessions,
    sum(c.authorised_absence_sessions)::bigint as authorised_absence_sessions,
    sum(c.unauthorised_absence_sessions)::bigint as unauthorised_absence_sessions,
    count(*) filter (where c.persistent_absence) as persistent_absence_enrolments,
    count(*) filter (where c.severe_absence) as severe_absence_enrolments
{%- endmacro %}

{#
  Persistent (>= 10%) and severe (>= 50%) absence of one enrolment in one period, judged on
  its own possible sessions with integer comparisons (no rounding), for the columns of
  `alias`; shared by int_enrolment_attendance_periods and the year-to-date rows of
  mart_attendance_measures.
#}
{% macro absence_judgements(alias) -%}
    {{ alias }}.possible_sessions > 0
        and 10 * ({{ alias }}.authorised_absence_sessions + {{ alias }}.unauthorised_absence_sessions)
        >= {{ alias }}.possible_sessions as persistent_absence,
    {{ alias }}.possible_sessions > 0
        and 2 * ({{ alias }}.authorised_absence_sessions + {{ alias }}.unauthorised_absence_sessions)
        >= {{ alias }}.possible_sessions as severe_absence
{%- endmacro %}
