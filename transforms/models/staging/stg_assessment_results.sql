-- One row per statutory assessment result of a pupil not deleted by the MIS. `result` stays
-- text: a KS2 scaled score, a teacher-assessment outcome, a GCSE grade or a result code.
select
    r.academy_id,
    r.upn,
    r.key_stage,
    r.assessment_year,
    r.subject,
    r.method,
    r.component,
    r.result
from {{ source('raw', 'assessment_results') }} as r
join {{ source('raw', 'pupils') }} as p
    on p.academy_id = r.academy_id and p.upn = r.upn
where p.deleted_at is null
