-- One row per day the calendar covers, with its half term, so that each mark finds its half
-- term by an equal join on its date (a hash lookup) rather than a range test against every
-- half term. A table, not a view: with its statistics the planner knows it holds a few
-- hundred days a year (a set-returning function is guessed at a thousand rows per half term,
-- and the guess made it hash 27 million marks instead of these days).
{{ config(materialized='table') }}

select
    d::date as calendar_date,
    c.academic_year_start,
    c.half_term
from {{ ref('int_calendar_half_terms') }} as c
cross join lateral generate_series(c.covers_from, c.covers_to, interval '1 day') as d
