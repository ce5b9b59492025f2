-- The marts count by category; the flags are kept for readers of the seed. They must agree,
-- or the two ways of counting a session would give different rates.
select code, effective_from, category, counts_as_possible, counts_as_attendance
from {{ ref('attendance_codes') }}
where counts_as_possible <> (category <> 'not_possible')
    or counts_as_attendance <> (category in ('present', 'approved_educational_activity'))
