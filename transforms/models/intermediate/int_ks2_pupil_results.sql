-- Each pupil's end-of-KS2 outcome in an academic year at an academy: the reading and maths
-- tests (a scaled score, or the code that stands in its place), writing TA, the expected and
-- higher standards in reading, writing and maths (RWM), and where the pupil stands in the
-- within-trust disadvantage gap index. A pupil with any mapped KS2 result is in the cohort, so
-- a pupil with a code instead of a score (or no writing TA) counts in the denominators and
-- does not meet the standard, as in the DfE's measures.
with results as (
    select *
    from {{ ref('fct_assessment_results') }}
    where key_stage = 'KS2' and measure_subject is not null and counts_at_academy
),

pupils as (
    select
        academy_id,
        upn,
        academic_year_start,
        academic_year,
        -- A source that spells a test two ways sends two rows: the score wins over a code.
        max(result_value) filter (where measure_subject = 'reading') as reading_scaled_score,
        max(result_value) filter (where measure_subject = 'maths') as maths_scaled_score,
        min(result_code) filter (
            where measure_subject = 'reading' and result_value is null
        ) as reading_code,
        min(result_code) filter (
            where measure_subject = 'maths' and result_value is null
        ) as maths_code,
        -- Two writing outcomes (two spellings): the higher standard counts (max: GDS > EXS).
        coalesce(
            max(result_code) filter (
                where measure_subject = 'writing' and result_code in ('GDS', 'EXS')
            ),
            min(result_code) filter (where measure_subject = 'writing')
        ) as writing_ta
    from results
    group by academy_id, upn, academic_year_start, academic_year
)

select
    academy_id,
    upn,
    academic_year_start,
    academic_year,
    reading_scaled_score,
    maths_scaled_score,
    case when reading_scaled_score is null then reading_code end as reading_code,
    case when maths_scaled_score is null then maths_code end as maths_code,
    writing_ta,
    coalesce(
        reading_scaled_score >= 100 and maths_scaled_score >= 100
        and writing_ta in ('EXS', 'GDS'),
        false
    ) as rwm_expected,
    coalesce(
        reading_scaled_score >= 110 and maths_scaled_score >= 110 and writing_ta = 'GDS',
        false
    ) as rwm_higher,
    -- The gap index ranks pupils on reading and maths together. B (working below the test)
    -- and T (unable to access it) are attainment below every score, so such a pupil ranks
    -- tied at the bottom (a NULL score, sorted first); any other code (absent, left,
    -- maladministration...) says nothing of attainment, so the pupil is left out and counted.
    coalesce(
        (reading_scaled_score is not null or reading_code in ('B', 'T'))
        and (maths_scaled_score is not null or maths_code in ('B', 'T')),
        false
    ) as gap_index_ranked,
    (reading_scaled_score + maths_scaled_score) / 2 as gap_index_score
from pupils
