-- A possible session recorded on a closure day counts towards every rate although the school
-- did not meet: either the register or the closure list is wrong. A warning, not a stop: the
-- closure list is the trust's, and one academy may have opened that day.
{{ config(severity='warn') }}
select f.academy_id, f.mark_date, count(*) as marks
from {{ ref('fct_attendance_sessions') }} as f
inner join {{ ref('academic_closures') }} as c
    on f.mark_date = c.closure_date
where f.category <> 'not_possible'
    -- The rows the latest build wrote (all of them after a full build).
    and f.loaded_at >= (select max(loaded_at) from {{ ref('fct_attendance_sessions') }})
group by f.academy_id, f.mark_date
