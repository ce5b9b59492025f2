-- Two versions of one code in force on the same day would make a mark classify twice.
select a.code, a.effective_from, b.effective_from as overlapping_from
from {{ ref('attendance_codes') }} as a
inner join {{ ref('attendance_codes') }} as b
    on a.code = b.code
    and a.effective_from < b.effective_from
    and b.effective_from <= coalesce(a.effective_to, date '9999-12-31')
