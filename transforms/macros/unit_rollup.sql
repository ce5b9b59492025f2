{#
  Rolling pupil rows up to academy, hub and trust in one aggregate, so that hub and trust
  figures are computed over their pupils, never as means of academy figures. Rows must carry
  academy_id/academy_name, hub_id/hub_name and trust_id/trust_name. Use both together:
    select {{ unit_rollup_columns() }}, <keys>, <aggregates>
    from ... group by {{ unit_rollup_grouping_sets(['<key>', ...]) }}
  mart_attainment_measures uses them; the attendance marts hold the same SQL inline.
#}
{% macro unit_rollup_columns() -%}
    {%- for name, academy, hub, trust in [
        ('level', "'academy'", "'hub'", "'trust'"),
        ('unit_id', 'academy_id', 'hub_id', 'trust_id'),
        ('unit_name', 'academy_name', 'hub_name', 'trust_name'),
    ] %}
    case
        when grouping(academy_id) = 0 then {{ academy }}
        when grouping(hub_id) = 0 then {{ hub }}
        else {{ trust }}
    end as {{ name }}{{ ',' if not loop.last }}
    {%- endfor %}
{%- endmacro %}

{% macro unit_rollup_grouping_sets(keys) -%}
    {%- set trust = keys + ['trust_id', 'trust_name'] -%}
    {%- set hub = trust + ['hub_id', 'hub_name'] -%}
    grouping sets (
        ({{ (hub + ['academy_id', 'academy_name']) | join(', ') }}),
        ({{ hub | join(', ') }}),
        ({{ trust | join(', ') }})
    )
{%- endmacro %}
