-- One row per pupil enrolment record, with the flags the measures need. Flags stay as
-- published (NULL = the MIS did not say); intermediate models decide what NULL means.
-- Pupils the MIS explicitly deleted (records entered in error) are left out; raw keeps them.
select
    academy_id,
    upn,
    date_of_birth,
    gender,
    nc_year,
    fsm_eligible,
    fsm6,
    in_care,
    previously_in_care,
    service_child,
    sen_status,
    eal,
    admission_date,
    leaving_date
from {{ source('raw', 'pupils') }}
where deleted_at is null
