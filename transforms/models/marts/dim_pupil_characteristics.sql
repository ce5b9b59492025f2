-- Each pupil's characteristics in each academic year of the calendar, as the measures group
-- them. Disadvantage comes from the dated periods where the MIS sends them, pooled by UPN
-- across the trust's academies (FSM recorded at a previous academy still counts), and falls
-- back to the pupil record's flag for a characteristic the pupil has no period of at all: a
-- current flag says nothing about earlier years, so periods win whenever they exist.
-- A year's status is as at the end of the year (31 August): FSM at any time from the earlier
-- of 1 April 2018 (Universal Credit transitional protection) and six years before (FSM6);
-- looked after at any time in the year (CLA); previously looked after from before its end
-- (PLAC). Service children are kept as their own flag and are never disadvantaged.
with years as (
    select distinct
        academic_year_start,
        academic_year,
        make_date(academic_year_start, 9, 1) as year_first_day,
        make_date(academic_year_start + 1, 8, 31) as year_last_day
    from {{ ref('int_calendar_half_terms') }}
),

periods as (
    select distinct upn, characteristic, start_date, coalesce(end_date, date '9999-12-31') as end_date
    from {{ ref('stg_characteristic_periods') }}
),

has_periods as (
    select
        upn,
        bool_or(characteristic = 'fsm') as has_fsm,
        bool_or(characteristic = 'cla') as has_cla,
        bool_or(characteristic = 'plac') as has_plac,
        bool_or(characteristic = 'service_child') as has_service_child
    from periods
    group by upn
),

from_periods as (
    select
        y.academic_year_start,
        p.upn,
        bool_or(
            p.characteristic = 'fsm'
            and p.start_date <= y.year_last_day
            and p.end_date >= least(date '2018-04-01', (y.year_last_day - interval '6 years')::date)
        ) as fsm6,
        bool_or(
            p.characteristic = 'cla'
            and p.start_date <= y.year_last_day
            and p.end_date >= y.year_first_day
        ) as cla,
        bool_or(p.characteristic = 'plac' and p.start_date <= y.year_last_day) as plac,
        bool_or(
            p.characteristic = 'service_child'
            and p.start_date <= y.year_last_day
            and p.end_date >= y.year_first_day
        ) as service_child
    from years as y
    cross join periods as p
    group by y.academic_year_start, p.upn
),

pupil_years as (
    select
        pu.academy_id,
        pu.upn,
        y.academic_year_start,
        y.academic_year,
        pu.gender,
        pu.sen_status,
        pu.eal,
        pu.date_of_birth,
        case when h.has_fsm then fp.fsm6 else coalesce(pu.fsm6, false) end as fsm6,
        case when h.has_cla then fp.cla else coalesce(pu.in_care, false) end as cla,
        case when h.has_plac then fp.plac else coalesce(pu.previously_in_care, false) end as plac,
        case
            when h.has_service_child then fp.service_child
            else coalesce(pu.service_child, false)
        end as service_child,
        case
            when coalesce(h.has_fsm or h.has_cla or h.has_plac, false) then 'periods'
            else 'pupil_record'
        end as disadvantage_source,
        date_part('year', age(make_date(y.academic_year_start, 8, 31), pu.date_of_birth))::int
            as age_at_start_of_year
    from {{ ref('stg_pupils') }} as pu
    cross join years as y
    left join has_periods as h
        on pu.upn = h.upn
    left join from_periods as fp
        on pu.upn = fp.upn and y.academic_year_start = fp.academic_year_start
)

select
    academy_id,
    upn,
    academic_year_start,
    academic_year,
    fsm6,
    cla,
    plac,
    fsm6 or cla or plac as disadvantaged,
    disadvantage_source,
    service_child,
    -- SEN provision as the CTF codes it (E = EHC plan, K = SEN support, N = none); a vendor's
    -- words for the same are accepted. Empty counts as no SEN, as for the other flags.
    case
        when upper(trim(sen_status)) in ('E', 'EHCP', 'EHC PLAN', 'S', 'STATEMENT') then 'ehcp'
        when upper(trim(sen_status)) in ('K', 'SEN SUPPORT') then 'sen_support'
        when sen_status is null or upper(trim(sen_status)) in ('N', '', 'NONE') then 'no_sen'
        else 'unknown'
    end as sen_group,
    coalesce(eal, false) as eal,
    coalesce(nullif(upper(trim(gender)), ''), 'unknown') as gender,
    age_at_start_of_year,
    age_at_start_of_year between 5 and 15 as compulsory_school_age,
    -- National curriculum year by age (Reception at 4, Year 1 at 5 ... Year 13 at 17): the
    -- record's nc_year is only the current one, so earlier years are derived from birth date.
    case
        when age_at_start_of_year = 4 then 'R'
        when age_at_start_of_year between 5 and 17 then 'Y' || (age_at_start_of_year - 4)::text
        else 'other'
    end as year_group
from pupil_years
