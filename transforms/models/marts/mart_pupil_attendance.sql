-- Pupil-level attendance for the read API's pupil scope: each enrolment's sessions in an
-- academic year with the characteristics the measures group by. Not suppressed (it is the
-- record itself); the API serves it only to clients with the 'pupils' scope and logs every
-- read. Every enrolment with marks is here, including pupils outside the headline cohort
-- (compulsory_school_age says which) and subsidiary registrations (registration says so).
-- record_key orders the API's pages: its cursor is the last key, which does not show a UPN
-- in URLs (and so in access logs) as a cursor of UPNs would.
select
    md5(e.academy_id || '/' || e.upn || '/' || coalesce(e.enrolment_start::text, '')) as record_key,
    e.academy_id,
    e.upn,
    e.enrolment_start,
    e.registration,
    e.academic_year,
    e.academic_year_start,
    e.possible_sessions,
    e.attended_sessions,
    e.authorised_absence_sessions,
    e.unauthorised_absence_sessions,
    round(100.0 * e.attended_sessions / nullif(e.possible_sessions, 0), 2) as attendance_rate,
    e.persistent_absence,
    e.severe_absence,
    d.disadvantaged,
    d.fsm6,
    d.cla,
    d.plac,
    d.service_child,
    d.sen_group,
    d.eal,
    d.gender,
    d.year_group,
    d.compulsory_school_age
from {{ ref('int_enrolment_attendance_periods') }} as e
left join {{ ref('dim_pupil_characteristics') }} as d
    on e.academy_id = d.academy_id
    and e.upn = d.upn
    and e.academic_year_start = d.academic_year_start
where e.period_type = 'academic_year'
