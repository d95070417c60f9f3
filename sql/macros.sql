{#- The one definition of "the part of an affected visitor that this run recomputes": scope selects
    the published events in it, the audit checks that nothing staged is published outside it, and
    publish deletes it. `row` is the alias or table of the rows tested, `at` their timestamp column,
    `since` the affected column it starts at (NULL: the whole visitor). Needs the alias `affected`. -#}
{%- macro in_recomputed_part(row, at, since='reopen_at') -%}
affected.dbt_visitor_id = {{ row }}.dbt_visitor_id
      AND (affected.{{ since }} IS NULL OR {{ row }}.{{ at }} >= affected.{{ since }})
{%- endmacro %}
