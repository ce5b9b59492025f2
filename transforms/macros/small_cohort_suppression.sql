{#
  True for a group row whose figures must be withheld. Primary: the group has fewer than
  `threshold` pupils. Secondary: when exactly one value of a grouping (e.g. disadvantaged, of
  disadvantaged/other) is under it, the smallest other value is withheld too, or it could be
  worked out from the 'all' row by subtraction. Rows must carry group_type and group_value;
  `partition_by` names the columns of one grouping of one unit (ending with group_type).
  mart_attainment_measures uses it; mart_attendance_measures holds the same rule inline.
#}
{% macro small_cohort_suppressed(count_column, partition_by, threshold) -%}
    {%- set grouping = 'partition by ' ~ (partition_by | join(', ')) -%}
    {%- set below = '(' ~ count_column ~ ' < ' ~ threshold ~ ')' -%}
    {{ below }} or (
        group_type <> 'all'
        and count(*) filter (where {{ below }}) over ({{ grouping }}) = 1
        and not {{ below }}
        and row_number() over (
            {{ grouping }}
            order by {{ below }} desc, {{ count_column }}, group_value
        ) = 2
    )
{%- endmacro %}
