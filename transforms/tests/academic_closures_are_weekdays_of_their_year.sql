-- A closure day must be a weekday inside its own academic year, or it closes nothing.
select closure_date, academic_year_start
from {{ ref('academic_closures') }}
where extract(isodow from closure_date) > 5
    or closure_date < make_date(academic_year_start, 9, 1)
    or closure_date > make_date(academic_year_start + 1, 8, 31)
