-- One row per register mark. `code` is the national code; the MIS's own code is kept for
-- tracing a mapping back to its source. Marks of pupils the MIS deleted are left out with them.
select
    marks.academy_id,
    marks.upn,
    marks.mark_date,
    marks.session,
    marks.code,
    marks.source_code,
    marks.published_at
from {{ source('raw', 'attendance_marks') }} as marks
where not exists (
    select 1
    from {{ source('raw', 'pupils') }} as deleted
    where deleted.academy_id = marks.academy_id
        and deleted.upn = marks.upn
        and deleted.deleted_at is not null
)
