-- Each half term with the span of days it covers: from its first day (1 September for the
-- first half term) to the day before the next half term starts (31 August for the last), so
-- that a mark on a holiday or a closure day still lands in exactly one half term and term.
select
    academic_year_start,
    academic_year_start::text
        || '-' || lpad(((academic_year_start + 1) % 100)::text, 2, '0') as academic_year,
    term,
    half_term,
    first_day,
    last_day,
    case
        when half_term = 'autumn_1' then make_date(academic_year_start, 9, 1)
        else first_day
    end as covers_from,
    coalesce(
        lead(first_day) over (partition by academic_year_start order by first_day) - 1,
        make_date(academic_year_start + 1, 8, 31)
    ) as covers_to
from {{ ref('academic_calendar') }}
