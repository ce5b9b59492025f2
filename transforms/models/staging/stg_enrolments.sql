-- One row per period a pupil is on an academy's roll. Withdrawn rows (the MIS corrected the
-- pupil's enrolments since) and pupils the MIS explicitly deleted are left out; raw keeps both.
select
    e.academy_id,
    e.upn,
    e.start_date,
    e.end_date,
    e.registration
from {{ source('raw', 'enrolments') }} as e
join {{ source('raw', 'pupils') }} as p
    on p.academy_id = e.academy_id and p.upn = e.upn
where e.withdrawn_at is null
    and p.deleted_at is null
