-- Results are matched to assessment_subjects case-insensitively and trimmed, so two seed rows
-- that differ only in case or spaces would send one result to two measures.
select
    upper(trim(key_stage)) as key_stage,
    upper(trim(subject)) as subject,
    upper(trim(method)) as method,
    upper(trim(coalesce(component, ''))) as component,
    count(*) as n_rows
from {{ ref('assessment_subjects') }}
group by 1, 2, 3, 4
having count(*) > 1
