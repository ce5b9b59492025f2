-- Each mark with the code-table row in force on its date. A left join, so that a code that is
-- not valid on the mark's date (e.g. H after 18 Aug 2024) keeps its row with a NULL category
-- and fails the tests, rather than silently dropping out of every rate.
with marks as (
    select
        *,
        -- Academic year runs 1 September to 31 August: Jan-Aug belong to the previous start year.
        (extract(year from mark_date)::int
            - case when extract(month from mark_date) < 9 then 1 else 0 end
        ) as academic_year_start
    from {{ ref('stg_attendance_marks') }}
)

select
    m.academy_id,
    m.upn,
    m.mark_date,
    m.session,
    m.code,
    m.source_code,
    m.published_at,
    c.category,
    c.counts_as_possible,
    c.counts_as_attendance,
    m.academic_year_start,
    m.academic_year_start::text
        || '-' || lpad(((m.academic_year_start + 1) % 100)::text, 2, '0') as academic_year
from marks as m
left join {{ ref('attendance_codes') }} as c
    on m.code = c.code
    and m.mark_date >= c.effective_from
    and m.mark_date <= coalesce(c.effective_to, date '9999-12-31')
