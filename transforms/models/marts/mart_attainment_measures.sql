-- KS2 and KS4 attainment for each academy, hub and trust, academic year and pupil group, with
-- the disadvantaged-minus-other gaps, last year's figures, and the within-trust disadvantage
-- gap index. One aggregate of pupil rows rolled up to academy, hub and trust (unit_rollup),
-- so hub and trust figures are ratios over their pupils, never averages of academy rates.
-- Served to users, so small groups are suppressed (see `suppressed`).
--
-- The gap index follows the DfE's method (pupils ranked by attainment, ties at their average
-- rank; 20 x (mean rank of others - mean rank of disadvantaged) / pupils ranked, so -10..10)
-- but ranks only the pupils of the unit the row describes. It is therefore labelled
-- within-trust: it is not the DfE's national index and is not comparable with it.
{% set threshold = var('suppression_threshold', 5) %}
{# (measure, unit of its gap and change: pp for rates in %, points for scores) #}
{% set measures = [
    ('rwm_expected_rate', 'pp'), ('rwm_higher_rate', 'pp'),
    ('reading_mean_scaled_score', 'points'), ('maths_mean_scaled_score', 'points'),
    ('attainment8_mean', 'points'), ('em_grade4_rate', 'pp'), ('em_grade5_rate', 'pp'),
] %}
{% set counts = [
    'rwm_expected_pupils', 'rwm_higher_pupils', 'reading_scored_pupils', 'maths_scored_pupils',
    'em_grade4_pupils', 'em_grade5_pupils', 'gap_index_excluded_pupils',
] %}
{% set rollup_keys = [
    'academic_year_start', 'academic_year', 'key_stage', 'group_type', 'group_value',
] %}
{% set unit_key = ['level', 'unit_id', 'academic_year_start', 'academic_year', 'key_stage'] %}

with pupils as (
    select
        academy_id, upn, academic_year_start, academic_year, 'KS2' as key_stage,
        rwm_expected, rwm_higher, reading_scaled_score, maths_scaled_score,
        null::numeric as attainment8, null::boolean as em_grade4, null::boolean as em_grade5,
        gap_index_ranked, gap_index_score
    from {{ ref('int_ks2_pupil_results') }}
    union all
    select
        academy_id, upn, academic_year_start, academic_year, 'KS4',
        null, null, null, null,
        attainment8, em_grade4, em_grade5,
        true, gap_index_score
    from {{ ref('int_ks4_pupil_results') }}
),

cohort as (
    -- Characteristics as at the year of the result. A year the calendar seed lacks has none:
    -- its pupils are counted by the warn test attainment_pupils_have_characteristics.
    select
        p.*,
        c.disadvantaged, c.fsm6, c.sen_group, c.eal, c.gender,
        a.academy_name, a.hub_id, a.hub_name, a.trust_id, a.trust_name
    from pupils as p
    inner join {{ ref('dim_pupil_characteristics') }} as c
        on p.academy_id = c.academy_id
        and p.upn = c.upn
        and p.academic_year_start = c.academic_year_start
    inner join {{ ref('stg_academies') }} as a
        on p.academy_id = a.academy_id
),

grouped as (
    select c.*, g.group_type, g.group_value
    from cohort as c
    cross join lateral (
        values
            ('all', 'all'),
            ('disadvantage', case when c.disadvantaged then 'disadvantaged' else 'other' end),
            ('fsm6', case when c.fsm6 then 'fsm6' else 'not_fsm6' end),
            ('sen', c.sen_group),
            ('eal', case when c.eal then 'eal' else 'not_eal' end),
            ('gender', c.gender)
    ) as g (group_type, group_value)
),

rolled_up as (
    select
        {{ unit_rollup_columns() }},
        academic_year,
        academic_year_start,
        key_stage,
        group_type,
        group_value,
        -- A pupil assessed at two academies in one year counts at each (and twice above).
        count(*) as pupils,
        -- The other key stage's columns are NULL on every pupil row, so sum() and avg() give
        -- NULL there rather than 0.
        sum(rwm_expected::int) as rwm_expected_pupils,
        sum(rwm_higher::int) as rwm_higher_pupils,
        count(reading_scaled_score) filter (where key_stage = 'KS2') as reading_scored_pupils,
        count(maths_scaled_score) filter (where key_stage = 'KS2') as maths_scored_pupils,
        sum(em_grade4::int) as em_grade4_pupils,
        sum(em_grade5::int) as em_grade5_pupils,
        count(*) filter (where not gap_index_ranked) as gap_index_excluded_pupils,
        100.0 * avg(rwm_expected::int) as rwm_expected_rate_exact,
        100.0 * avg(rwm_higher::int) as rwm_higher_rate_exact,
        -- A mean over fewer scores than the threshold would give those pupils' scores away
        -- even in a group large enough to show.
        case
            when count(reading_scaled_score) >= {{ threshold }} then avg(reading_scaled_score)
        end as reading_mean_scaled_score_exact,
        case
            when count(maths_scaled_score) >= {{ threshold }} then avg(maths_scaled_score)
        end as maths_mean_scaled_score_exact,
        avg(attainment8) as attainment8_mean_exact,
        100.0 * avg(em_grade4::int) as em_grade4_rate_exact,
        100.0 * avg(em_grade5::int) as em_grade5_rate_exact
    from grouped
    group by {{ unit_rollup_grouping_sets(rollup_keys) }}
),

suppression as (
    select
        *,
        {{ small_cohort_suppressed('pupils', unit_key + ['group_type'], threshold) }}
            as suppressed
    from rolled_up
),

index_pupils as (
    -- Each ranked pupil once per unit above them: ranks are taken within the unit.
    select
        u.level, u.unit_id, c.academic_year_start, c.academic_year, c.key_stage,
        c.disadvantaged, c.gap_index_score
    from cohort as c
    cross join lateral (
        values ('academy', c.academy_id), ('hub', c.hub_id), ('trust', c.trust_id)
    ) as u (level, unit_id)
    where c.gap_index_ranked
),

index_ranks as (
    -- Ascending, bottom-ranked pupils (NULL score) first; tied pupils share the mean of the
    -- places they take (rank() is the first of them).
    select
        {{ unit_key | join(', ') }},
        disadvantaged,
        rank() over (
            partition by {{ unit_key | join(', ') }} order by gap_index_score nulls first
        ) + (count(*) over (
            partition by {{ unit_key | join(', ') }}, gap_index_score
        ) - 1) / 2.0 as pupil_rank
    from index_pupils
),

gaps as (
    -- Disadvantaged minus other, from the unrounded figures; NULL when either is suppressed.
    select
        {{ unit_key | join(', ') }},
        {% for m, _ in measures %}
        max({{ m }}_exact) filter (where group_value = 'disadvantaged' and not suppressed)
            - max({{ m }}_exact) filter (where group_value = 'other' and not suppressed)
            as {{ m }}_gap,
        {% endfor %}
        bool_or(suppressed) as either_suppressed
    from suppression
    where group_type = 'disadvantage'
    group by {{ unit_key | join(', ') }}
),

gap_index as (
    select
        {{ unit_key | join(', ') }},
        count(*) as gap_index_ranked_pupils,
        count(*) filter (where disadvantaged) as ranked_disadvantaged,
        count(*) filter (where not disadvantaged) as ranked_other,
        20 * (
            avg(pupil_rank) filter (where not disadvantaged)
            - avg(pupil_rank) filter (where disadvantaged)
        ) / count(*) as index_exact
    from index_ranks
    group by {{ unit_key | join(', ') }}
),

unit_gaps as (
    -- The index needs both groups shown and both ranked at or above the threshold.
    select
        g.*,
        i.gap_index_ranked_pupils,
        case
            when not g.either_suppressed
                and i.ranked_disadvantaged >= {{ threshold }}
                and i.ranked_other >= {{ threshold }}
                then i.index_exact
        end as within_trust_gap_index_exact
    from gaps as g
    left join gap_index as i
        using ({{ unit_key | join(', ') }})
)

select
    s.level,
    s.unit_id,
    s.unit_name,
    s.academic_year,
    s.academic_year_start,
    s.key_stage,
    s.group_type,
    s.group_value,
    s.suppressed,
    case when not s.suppressed then s.pupils end as pupils,
    {% for c in counts %}
    case when not s.suppressed then s.{{ c }} end as {{ c }},
    {% endfor %}
    {% for m, _ in measures %}
    case when not s.suppressed then round(s.{{ m }}_exact, 2) end as {{ m }},
    {% endfor %}
    {% for m, unit in measures %}
    round(g.{{ m }}_gap, 2) as {{ m }}_gap_{{ unit }},
    {% endfor %}
    round(g.within_trust_gap_index_exact, 2) as within_trust_gap_index,
    g.gap_index_ranked_pupils,
    -- Last year: the same unit, key stage and group (NULL when absent or suppressed); changes
    -- are from unrounded figures and need both years shown.
    {% for m, unit in measures %}
    round(ly.{{ m }}_exact, 2) as {{ m }}_last_year,
    case when not s.suppressed then round(s.{{ m }}_exact - ly.{{ m }}_exact, 2) end
        as {{ m }}_change_{{ unit }},
    round(lg.{{ m }}_gap, 2) as {{ m }}_gap_{{ unit }}_last_year,
    round(g.{{ m }}_gap - lg.{{ m }}_gap, 2) as {{ m }}_gap_{{ unit }}_change,
    {% endfor %}
    round(lg.within_trust_gap_index_exact, 2) as within_trust_gap_index_last_year,
    round(g.within_trust_gap_index_exact - lg.within_trust_gap_index_exact, 2)
        as within_trust_gap_index_change
from suppression as s
left join suppression as ly
    on s.level = ly.level
    and s.unit_id = ly.unit_id
    and s.academic_year_start - 1 = ly.academic_year_start
    and s.key_stage = ly.key_stage
    and s.group_type = ly.group_type
    and s.group_value = ly.group_value
    and not ly.suppressed
left join unit_gaps as g
    on s.level = g.level
    and s.unit_id = g.unit_id
    and s.academic_year = g.academic_year
    and s.key_stage = g.key_stage
left join unit_gaps as lg
    on s.level = lg.level
    and s.unit_id = lg.unit_id
    and s.academic_year_start - 1 = lg.academic_year_start
    and s.key_stage = lg.key_stage
