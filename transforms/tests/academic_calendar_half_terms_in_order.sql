-- Half terms must run in order inside their academic year without overlapping, or a mark's
-- date would fall in two half terms (or in none).
select academic_year_start, half_term, first_day, last_day
from (
    select
        *,
        lag(last_day) over (partition by academic_year_start order by first_day) as previous_end,
        lag(half_term) over (partition by academic_year_start order by first_day) as previous
    from {{ ref('academic_calendar') }}
) as c
where first_day > last_day
    or first_day < make_date(academic_year_start, 9, 1)
    or last_day > make_date(academic_year_start + 1, 8, 31)
    or first_day <= previous_end
    or (previous is not null and previous >= half_term)
