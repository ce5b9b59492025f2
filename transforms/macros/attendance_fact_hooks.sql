{#
  Hooks of the incremental fct_attendance_sessions. An (academy, date) is "touched" when a mark
  on it was published or superseded (changed or deleted: both leave a copy in
  raw.attendance_marks_superseded) at or after the watermark: the latest published_at the fact
  holds, less var('attendance_fact_lookback', '1 day'). The look-back is needed because
  published_at and superseded_at are the start time of the publishing transaction: a batch
  that started before another but committed after it would otherwise fall behind the
  watermark. Re-doing a date is harmless: every step replaces whole (academy, date) partitions.
#}
{% macro attendance_fact_watermark() -%}
    (
        select
            coalesce(max(published_at), '-infinity'::timestamptz)
            - interval '{{ var("attendance_fact_lookback", "1 day") }}'
        from {{ this }}
    )
{%- endmacro %}

{#
  Every (academy, date) the next incremental run must rebuild: dates with marks published
  since the watermark, dates with marks superseded since, and every date of a pupil restored
  since (a pupil the MIS deleted and then sent again: live, republished, and with no marks
  in the fact). Whole dates, because delete+insert replaces each (academy, date) it is given.
#}
{% macro attendance_fact_touched_dates() -%}
    select academy_id, mark_date
    from {{ ref('stg_attendance_marks') }}
    where published_at >= {{ attendance_fact_watermark() }}
    union
    {{ attendance_fact_superseded_dates() }}
    union
    select m.academy_id, m.mark_date
    from {{ ref('stg_attendance_marks') }} as m
    inner join {{ source('raw', 'pupils') }} as p
        on m.academy_id = p.academy_id and m.upn = p.upn
    where p.published_at >= {{ attendance_fact_watermark() }}
        and p.deleted_at is null
        and not exists (
            select 1 from {{ this }} as f where f.academy_id = p.academy_id and f.upn = p.upn
        )
{%- endmacro %}

{% macro attendance_fact_superseded_dates() -%}
    select distinct s.academy_id, s.mark_date
    from {{ source('raw', 'attendance_marks_superseded') }} as s
    where s.superseded_at >= {{ attendance_fact_watermark() }}
{%- endmacro %}

{#
  Before an incremental run: empty the dates whose marks were superseded, so that a date whose
  last mark was deleted (which the new rows cannot replace) does not keep it.
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
  After every run: drop the marks of pupils the MIS has deleted since their marks were loaded
  (staging leaves them out, but an incremental run would not otherwise revisit their dates).
#}
{% macro attendance_fact_drop_deleted_pupils() -%}
    delete from {{ this }} as f
    using {{ source('raw', 'pupils') }} as p
    where p.academy_id = f.academy_id
        and p.upn = f.upn
        and p.deleted_at is not null
{%- endmacro %}
