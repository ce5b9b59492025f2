{#
  Pre-hook of the attendance models: settings for this transaction only (SET LOCAL). Memory,
  so that sorts, hash aggregates and index builds stay in memory instead of spilling to disk
  with PostgreSQL's defaults (work_mem 4MB, maintenance_work_mem 64MB); sized by vars for the
  server at hand (two dbt threads may each use this much, and each parallel worker too). And
  no JIT: these queries' cost estimates are high enough to trigger it, and compiling them
  took longer (6.8 s for mart_attendance_measures) than it could save.
#}
{% macro build_settings() -%}
    set local work_mem = '{{ var("build_work_mem", "256MB") }}';
    set local maintenance_work_mem = '{{ var("build_maintenance_work_mem", "1GB") }}';
    set local jit = off
{%- endmacro %}

{#
  Post-hook of the large incremental models: statistics after a full build. A table dbt has
  just created has none until autovacuum gets to it, and the next incremental run's plans
  (partition counts, joins to the few partitions it rebuilds) go badly wrong without them.
#}
{% macro analyze_after_full_build() -%}
    {%- if is_incremental() -%} select 1 {%- else -%} analyze {{ this }} {%- endif -%}
{%- endmacro %}

{#
  Post-hook of the attendance fact, run after its transaction commits: after a full build,
  VACUUM (with ANALYZE) the new table, so that its visibility map is set and the next
  incremental run counts each academy's rows (attendance_fact_find_out_of_step) and reads
  dates from the indexes alone, instead of visiting 27 million rows' pages to check them
  (3.1 s a run at 27 million marks). VACUUM cannot run inside a transaction, hence after_commit.
#}
{% macro vacuum_after_full_build() -%}
    {%- if is_incremental() -%} select 1 {%- else -%} vacuum (analyze) {{ this }} {%- endif -%}
{%- endmacro %}
