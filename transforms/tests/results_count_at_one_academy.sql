-- A pupil's results of a key stage and year count at one academy at most, so that hub and
-- trust attainment count each pupil once (fct_assessment_results' attribution).
select upn, key_stage, assessment_year, count(distinct academy_id) as academies
from {{ ref('fct_assessment_results') }}
where counts_at_academy
group by upn, key_stage, assessment_year
having count(distinct academy_id) > 1
