{#
  Post-hook of every model and seed (dbt_project.yml): statistics for a table just built.
  dbt creates tables with CREATE TABLE AS, which leaves them without statistics until
  autovacuum gets round to them, often after the models that read them have run; the planner
  then guesses their size (a 282,800-row table as 112,230, 24 calendar rows as 780) and
  picks sorts and hashes for the wrong side (int_enrolment_attendance_periods took 140 s
  instead of 67 s on 27 million marks). Views have no statistics of their own; the
  incremental models analyse after a full build (analyze_after_full_build).
#}
{% macro analyze_table() -%}
    {%- if model.resource_type == 'seed' or model.config.materialized == 'table' -%}
        analyze {{ this }}
    {%- else -%}
        select 1
    {%- endif -%}
{%- endmacro %}
