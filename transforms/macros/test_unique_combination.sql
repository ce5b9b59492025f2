{#
  Fails with one row per duplicated key when the combination of `columns` is not unique.
  Written here rather than taken from dbt_utils because builds cannot download packages.
  Usage in YAML (model level):
    data_tests:
      - unique_combination:
          arguments:
            columns: [academy_id, upn]
#}
{% test unique_combination(model, columns) %}
select
    {{ columns | join(', ') }},
    count(*) as n_rows
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
