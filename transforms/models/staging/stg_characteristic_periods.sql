-- One row per dated characteristic period (fsm, cla, plac, service_child). Withdrawn periods
-- and pupils the MIS explicitly deleted are left out; raw keeps both.
select
    c.academy_id,
    c.upn,
    c.characteristic,
    c.start_date,
    c.end_date
from {{ source('raw', 'characteristic_periods') }} as c
join {{ source('raw', 'pupils') }} as p
    on p.academy_id = c.academy_id and p.upn = c.upn
where c.withdrawn_at is null
    and p.deleted_at is null
