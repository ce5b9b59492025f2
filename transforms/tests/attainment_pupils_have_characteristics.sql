-- Assessed pupil-years with no characteristics for their year (a year missing from the
-- academic_calendar seed, such as results sent from before the trust's first year):
-- mart_attainment_measures joins characteristics, so these are in no figure. Warn, so that
-- history does not stop the build, but they are counted rather than dropped unseen.
{{ config(severity='warn') }}
select p.academy_id, p.academic_year_start, count(*) as pupils
from (
    select academy_id, upn, academic_year_start from {{ ref('int_ks2_pupil_results') }}
    union all
    select academy_id, upn, academic_year_start from {{ ref('int_ks4_pupil_results') }}
) as p
left join {{ ref('dim_pupil_characteristics') }} as c
    on p.academy_id = c.academy_id
    and p.upn = c.upn
    and p.academic_year_start = c.academic_year_start
where c.upn is null
group by p.academy_id, p.academic_year_start
