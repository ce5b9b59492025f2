-- One row per pupil, academic year and school of CTF session totals, for pupils not deleted
-- by the MIS. A school other than the academy's own is a previous school's record.
select
    s.academy_id,
    s.upn,
    s.academic_year_start,
    s.school_laestab,
    s.sessions_possible,
    s.sessions_authorised,
    s.sessions_attended,
    s.sessions_unauthorised
from {{ source('raw', 'attendance_summaries') }} as s
join {{ source('raw', 'pupils') }} as p
    on p.academy_id = s.academy_id and p.upn = s.upn
where p.deleted_at is null
