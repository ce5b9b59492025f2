-- One row per register mark. `code` is the national code; the MIS's own code is kept for
-- tracing a mapping back to its source.
select
    academy_id,
    upn,
    mark_date,
    session,
    code,
    source_code
from {{ source('raw', 'attendance_marks') }}
