-- Each pupil's end-of-KS4 outcome in an academic year at an academy: Attainment 8, grade 4+
-- and 5+ in English and maths, and where the pupil stands in the within-trust disadvantage
-- gap index. A pupil with any mapped KS4 result is in the cohort.
--
-- Attainment 8 as the DfE's guidance sets it out (the readings taken where it is not spelt
-- out here are listed in the model's YAML):
--   maths slot: the maths grade, double weighted;
--   English slot: the higher of English language and literature, double weighted only when
--     both were taken; the other one may then fill an open slot. Only one taken: single
--     weighted. U counts as taken (0 points); X (absent) does not;
--   3 EBacc slots: the best three EBacc grades (sciences incl. computer science, history,
--     geography, languages); combined science fills two slots with its grade;
--   3 open slots: the best three of the rest (EBacc grades not used above, the unused
--     English, other subjects).
-- An empty slot scores 0, so the maximum is 90.
with results as (
    select *
    from {{ ref('fct_assessment_results') }}
    where key_stage = 'KS4' and measure_subject is not null and counts_at_academy
),

core as (
    select
        academy_id,
        upn,
        academic_year_start,
        academic_year,
        max(result_value) filter (where measure_subject = 'maths') as maths_points,
        max(result_value) filter (
            where measure_subject = 'english_language'
        ) as english_language_points,
        max(result_value) filter (
            where measure_subject = 'english_literature'
        ) as english_literature_points
    from results
    group by academy_id, upn, academic_year_start, academic_year
),

english as (
    select
        *,
        greatest(english_language_points, english_literature_points) as english_points,
        english_language_points is not null
            and english_literature_points is not null as english_double_weighted
    from core
),

-- Every grade that can fill an EBacc or open slot, once per slot it fills, ranked among the
-- pupil's EBacc grades.
slot_grades as (
    select
        r.academy_id,
        r.upn,
        r.academic_year_start,
        r.ebacc_category is not null as is_ebacc,
        r.result_value as points
    from results as r
    cross join generate_series(1, coalesce(r.attainment8_slots, 1))
    where r.measure_subject not in ('maths', 'english_language', 'english_literature')
        and r.result_value is not null
),

ebacc_ranked as (
    select
        *,
        row_number() over (
            partition by academy_id, upn, academic_year_start, is_ebacc order by points desc
        ) as ebacc_place
    from slot_grades
),

open_candidates as (
    select academy_id, upn, academic_year_start, points
    from ebacc_ranked
    where not is_ebacc or ebacc_place > 3
    union all
    select
        academy_id,
        upn,
        academic_year_start,
        least(english_language_points, english_literature_points)
    from english
    where english_double_weighted
),

ebacc_slots as (
    select academy_id, upn, academic_year_start, sum(points) as points
    from ebacc_ranked
    where is_ebacc and ebacc_place <= 3
    group by academy_id, upn, academic_year_start
),

open_slots as (
    select academy_id, upn, academic_year_start, sum(points) as points
    from (
        select
            *,
            row_number() over (
                partition by academy_id, upn, academic_year_start order by points desc
            ) as open_place
        from open_candidates
    ) as ranked
    where open_place <= 3
    group by academy_id, upn, academic_year_start
)

select
    e.academy_id,
    e.upn,
    e.academic_year_start,
    e.academic_year,
    e.maths_points,
    e.english_language_points,
    e.english_literature_points,
    e.english_points,
    e.english_double_weighted,
    coalesce(eb.points, 0) as ebacc_slot_points,
    coalesce(op.points, 0) as open_slot_points,
    2 * coalesce(e.maths_points, 0)
        + case when e.english_double_weighted then 2 else 1 end * coalesce(e.english_points, 0)
        + coalesce(eb.points, 0)
        + coalesce(op.points, 0) as attainment8,
    coalesce(e.maths_points >= 4 and e.english_points >= 4, false) as em_grade4,
    coalesce(e.maths_points >= 5 and e.english_points >= 5, false) as em_grade5,
    -- The gap index ranks on English (the better of language and literature) and maths; a
    -- subject without a grade scores 0, as an empty Attainment 8 slot does.
    (coalesce(e.english_points, 0) + coalesce(e.maths_points, 0)) / 2 as gap_index_score
from english as e
left join ebacc_slots as eb
    on e.academy_id = eb.academy_id
    and e.upn = eb.upn
    and e.academic_year_start = eb.academic_year_start
left join open_slots as op
    on e.academy_id = op.academy_id
    and e.upn = op.upn
    and e.academic_year_start = op.academic_year_start
