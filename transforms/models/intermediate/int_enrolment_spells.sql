-- A pupil's spells on each academy's roll: the MIS's enrolment periods where it sends any for
-- the pupil at that academy; otherwise one spell for the pupil record, which takes every mark
-- of the pupil at that academy (its start is the admission date, else the first mark).
-- A table: every mark is matched against it.
{{ config(materialized='table') }}

with recorded as (
    select
        academy_id,
        upn,
        start_date as enrolment_start,
        end_date as enrolment_end,
        registration,
        'enrolments' as spell_source,
        start_date as covers_from,
        coalesce(end_date, date '9999-12-31') as covers_to
    from {{ ref('stg_enrolments') }}
),

from_pupil_records as (
    select * from (
        select
            p.academy_id,
            p.upn,
            -- The first mark only when there is no admission date: coalesce stops at the
            -- first value, so the fact's unique index is probed for those pupils alone.
            coalesce(
                p.admission_date,
                (
                    select min(f.mark_date)
                    from {{ ref('fct_attendance_sessions') }} as f
                    where f.academy_id = p.academy_id and f.upn = p.upn
                )
            ) as enrolment_start,
            p.leaving_date as enrolment_end,
            cast(null as text) as registration,
            'pupil_record' as spell_source,
            date '0001-01-01' as covers_from,
            date '9999-12-31' as covers_to
        from {{ ref('stg_pupils') }} as p
        where not exists (
            select 1 from recorded as r where r.academy_id = p.academy_id and r.upn = p.upn
        )
    ) as records
    where enrolment_start is not null
),

spells as (
    select * from recorded
    union all
    select * from from_pupil_records
)

-- Overlapping spells at one academy (a data-quality failure the pipeline reports) must not
-- take a mark twice: a spell stops taking marks the day before the next one starts, so the
-- latest spell that has started takes the date.
select
    academy_id,
    upn,
    enrolment_start,
    enrolment_end,
    registration,
    spell_source,
    covers_from,
    least(
        covers_to,
        lead(covers_from) over (partition by academy_id, upn order by covers_from) - 1
    ) as covers_to
from spells
