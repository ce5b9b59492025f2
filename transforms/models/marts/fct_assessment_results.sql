-- One row per statutory result, with the measure it feeds (from the assessment_subjects seed,
-- since every source spells subjects its own way) and its value as a number where it has one.
-- A result the seed does not map keeps a NULL measure_subject: it stays visible here, and the
-- model's warn test counts it, rather than dropping out of the measures unseen.
with subjects as (
    select
        upper(trim(key_stage)) as key_stage,
        upper(trim(subject)) as subject,
        upper(trim(method)) as method,
        upper(trim(coalesce(component, ''))) as component,
        measure_subject,
        ebacc_category,
        attainment8_slots
    from {{ ref('assessment_subjects') }}
),

results as (
    select
        r.*,
        upper(trim(r.result)) as result_code,
        -- Results are taken in the summer that ends the academic year.
        r.assessment_year - 1 as academic_year_start
    from {{ ref('stg_assessment_results') }} as r
),

eligible as (
    select
        r.academy_id,
        r.upn,
        r.key_stage,
        r.assessment_year,
        r.academic_year_start,
        r.academic_year_start::text
            || '-' || lpad((r.assessment_year % 100)::text, 2, '0') as academic_year,
        r.subject,
        r.method,
        r.component,
        r.result,
        r.result_code,
        s.measure_subject,
        s.ebacc_category,
        s.attainment8_slots,
        case
            -- A KS2 scaled score (80-120); a result code (B, T, A...) has no value.
            when r.key_stage = 'KS2' and r.result_code ~ '^[0-9]{2,3}$'
                and r.result_code::int between 80 and 120 then r.result_code::numeric
            -- GCSE points: the grade, U = 0. A double award (combined science) may be written
            -- as two grades, '6-5': each of its two slots then scores their mean, 5.5.
            when r.key_stage = 'KS4' and r.result_code ~ '^[1-9]$' then r.result_code::numeric
            when r.key_stage = 'KS4' and r.result_code = 'U' then 0
            when r.key_stage = 'KS4' and r.result_code ~ '^[1-9]-[1-9]$' then
                (split_part(r.result_code, '-', 1)::numeric
                    + split_part(r.result_code, '-', 2)::numeric) / 2
        end as result_value,
        -- A CTF carries a pupil's results from earlier schools: a secondary's Year 7 arrive with
        -- their KS2 results. A result is eligible to count in an academy's measures only when the
        -- academy teaches the key stage and the pupil was on its roll for that summer's tests and
        -- exams: admitted before 1 June of the assessment year (or no admission date sent), and
        -- not gone before the attribution date (KS2: 1 May, the tests; KS4: 1 January, the
        -- January census that attributes KS4 results).
        coalesce(
            case r.key_stage
                when 'KS2' then a.phase in ('primary', 'all-through')
                when 'KS4' then a.phase in ('secondary', 'all-through')
            end
            and (p.admission_date is null or p.admission_date < make_date(r.assessment_year, 6, 1))
            and (
                p.leaving_date is null
                or p.leaving_date >= case r.key_stage
                    when 'KS4' then make_date(r.assessment_year, 1, 1)
                    else make_date(r.assessment_year, 5, 1)
                end
            ),
            false
        ) as eligible,
        p.admission_date
    from results as r
    -- Left joins: the fact keeps every staged result (an academy missing from meta fails the
    -- relationships test instead of losing its results here).
    left join {{ ref('stg_academies') }} as a
        on r.academy_id = a.academy_id
    left join {{ ref('stg_pupils') }} as p
        on r.academy_id = p.academy_id
        and r.upn = p.upn
    left join subjects as s
        on r.key_stage = s.key_stage
        and upper(trim(r.subject)) = s.subject
        and upper(trim(r.method)) = s.method
        and upper(trim(r.component)) = s.component
),

attributed as (
    -- A pupil's results of a key stage and year count at one academy of the trust only, so that
    -- a hub or the trust counts the pupil once: where eligible at several (on two rolls, or a
    -- leaving date not sent), the most recent admission (a known date before an unknown one),
    -- then the first academy id.
    select
        *,
        first_value(academy_id) over (
            partition by upn, key_stage, assessment_year
            order by eligible desc, admission_date desc nulls last, academy_id
        ) as attributed_academy_id
    from eligible
)

select
    academy_id,
    upn,
    key_stage,
    assessment_year,
    academic_year_start,
    academic_year,
    subject,
    method,
    component,
    result,
    result_code,
    measure_subject,
    ebacc_category,
    attainment8_slots,
    result_value,
    eligible and academy_id = attributed_academy_id as counts_at_academy
from attributed
