{#
  The incremental fct_attendance_sessions. An (academy, date) is "touched" when a mark on it
  was published or superseded (changed or deleted: both leave a copy in
  raw.attendance_marks_superseded) at or after the watermark: the latest published_at the fact
  holds, less var('attendance_fact_lookback', '1 day'). The look-back is needed because
  published_at and superseded_at are the start time of the publishing transaction: a batch
  that started before another but committed after it would otherwise fall behind the
  watermark. Re-doing a date is harmless: every step replaces whole (academy, date) partitions.
  What leaves no such trace (a pupil the MIS restored, raw rows removed by hand) is caught
  after the run by comparing each academy's mark count with staging (attendance_fact_resync).
#}
{% macro attendance_fact_columns(loaded_at='now()') -%}
    m.academy_id,
    m.upn,
    m.mark_date,
    m.session,
    m.code,
    m.source_code,
    m.category,
    m.academic_year_start,
    m.academic_year,
    m.published_at,
    -- When this row last changed in the fact: the models built from it rebuild the (academy,
    -- academic year) partitions holding rows loaded since their own last build.
    {{ loaded_at }} as loaded_at
{%- endmacro %}

{% macro attendance_fact_watermark() -%}
    (
        select
            coalesce(max(published_at), '-infinity'::timestamptz)
            - interval '{{ var("attendance_fact_lookback", "1 day") }}'
        from {{ this }}
    )
{%- endmacro %}

{% macro attendance_fact_superseded_dates() -%}
    select distinct s.academy_id, s.mark_date
    from {{ source('raw', 'attendance_marks_superseded') }} as s
    where s.superseded_at >= {{ attendance_fact_watermark() }}
{%- endmacro %}

{# Every (academy, date) with marks published or superseded since the watermark. #}
{% macro attendance_fact_touched_dates() -%}
    select academy_id, mark_date
    from {{ ref('stg_attendance_marks') }}
    where published_at >= {{ attendance_fact_watermark() }}
    union
    {{ attendance_fact_superseded_dates() }}
{%- endmacro %}

{#
  Pre-hook: the touched dates, into a temporary table with statistics. Joined directly, the
  watermark is a parameter at planning time, so the planner guesses a third of all marks
  and scans every mark and every fact row (47 s for a day of one academy at 27 million
  marks); from a table of a few rows it reads the dates through the indexes.
#}
{% macro attendance_fact_find_touched_dates() -%}
    {%- if is_incremental() -%}
    create temporary table attendance_fact_touched on commit drop as
    {{ attendance_fact_touched_dates() }};
    analyze attendance_fact_touched
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}

{#
  Pre-hook: empty the dates whose marks were superseded, so that a date whose last mark was
  deleted (which the new rows cannot replace) does not keep it.
#}
{% macro attendance_fact_clear_superseded_dates() -%}
    {%- if is_incremental() -%}
        delete from {{ this }} as f
        using ({{ attendance_fact_superseded_dates() }}) as t
        where f.academy_id = t.academy_id and f.mark_date = t.mark_date
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}

{#
  Post-hook: drop the marks of pupils the MIS has deleted since their marks were loaded
  (staging leaves them out, but an incremental run would not otherwise revisit their dates).
#}
{% macro attendance_fact_drop_deleted_pupils() -%}
    delete from {{ this }} as f
    using {{ source('raw', 'pupils') }} as p
    where p.academy_id = f.academy_id
        and p.upn = f.upn
        and p.deleted_at is not null
{%- endmacro %}

{#
  Post-hooks, last: rebuild every academy whose mark count differs from staging's, i.e. whose
  marks changed without a trace the watermark can see (a restored pupil, rows removed from raw
  outside the pipeline). The academies are found once, into a temporary table, and then
  emptied and refilled. In step, nothing is rewritten.
  Staging's count is raw's less the marks of deleted pupils (stg_attendance_marks' rule),
  counted apart: the per-academy count of raw then comes from the (mark_date, academy_id)
  index alone, where counting the view would scan and anti-join every mark on every run.
#}
{% macro attendance_fact_find_out_of_step() -%}
    {%- if not is_incremental() -%}
    select 1  {#- a full build has just read every mark from staging #}
    {%- else -%}
    create temporary table attendance_fact_out_of_step on commit drop as
    select coalesce(s.academy_id, f.academy_id) as academy_id
    from (
        select r.academy_id, r.marks - coalesce(d.marks, 0) as marks
        from (
            select academy_id, count(*) as marks
            from {{ source('raw', 'attendance_marks') }}
            group by academy_id
        ) as r
        left join (
            select m.academy_id, count(*) as marks
            from {{ source('raw', 'pupils') }} as p
            join {{ source('raw', 'attendance_marks') }} as m
                on m.academy_id = p.academy_id and m.upn = p.upn
            where p.deleted_at is not null
            group by m.academy_id
        ) as d
            on r.academy_id = d.academy_id
    ) as s
    full join (
        select academy_id, count(*) as marks from {{ this }} group by academy_id
    ) as f
        on s.academy_id = f.academy_id
    where s.marks is distinct from f.marks
    {%- endif -%}
{%- endmacro %}

{% macro attendance_fact_resync_delete() -%}
    {%- if is_incremental() -%}
    delete from {{ this }}
    where academy_id in (select academy_id from attendance_fact_out_of_step)
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}

{% macro attendance_fact_resync_insert() -%}
    {%- if is_incremental() -%}
    insert into {{ this }}
    select {{ attendance_fact_columns() }}
    from {{ ref('int_attendance_marks_classified') }} as m
    where m.academy_id in (select academy_id from attendance_fact_out_of_step)
    {%- else -%}
    select 1
    {%- endif -%}
{%- endmacro %}
