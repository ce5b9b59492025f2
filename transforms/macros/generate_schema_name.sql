{#
  Use a model's custom schema verbatim (analytics_staging, analytics_intermediate, marts)
  instead of dbt's default "<target schema>_<custom schema>", so the API and the dashboards
  read the same schema names in every environment.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
