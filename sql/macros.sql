{#- The one definition of "the part of an affected visitor that this run recomputes": scope selects
    the published events in it, the audit checks that nothing staged is published outside it, and
    publish deletes it. `row` is the alias or table of the rows tested, `at` their timestamp column,
    `since` the affected column it starts at (NULL: the whole visitor). Needs the alias `affected`. -#}
{%- macro in_recomputed_part(row, at, since='reopen_at') -%}
affected.dbt_visitor_id = {{ row }}.dbt_visitor_id
      AND (affected.{{ since }} IS NULL OR {{ row }}.{{ at }} >= affected.{{ since }})
{%- endmacro %}

{#- A constant bound on a published table's partition column where the warehouse prunes only by
    constants (Dialect.script_bounds): `span` is a script variable STRUCT<lo, hi> the phase set
    from its staged tables before the read (NULL fields, when nothing matched, read nothing).
    Elsewhere nothing: those planners prune through the join itself. -#}
{%- macro within(row, at, span) -%}
{%- if d.script_bounds %}
      AND {{ row }}.{{ at }} BETWEEN {{ span }}.lo AND {{ span }}.hi
{%- endif %}
{%- endmacro %}

{#- The declaration of a time span variable, at the top of a phase's script. -#}
{%- macro declare_span(name) -%}
DECLARE {{ name }} STRUCT<lo {{ d.timestamp_type }}, hi {{ d.timestamp_type }}>;
{%- endmacro %}

{#- The earliest time this run rewrites, from a column of the affected visitors (NULL: a whole
    visitor, so no bound). -#}
{%- macro earliest_rewrite(column) -%}
(
    SELECT IF(LOGICAL_OR({{ column }} IS NULL), TIMESTAMP '0001-01-01 00:00:00', MIN({{ column }}))
    FROM {{ t.stage('affected') }}
)
{%- endmacro %}

{#- A column as the templates write it: `timestamp`, a keyword on most warehouses, quoted; other
    names bare. -#}
{%- macro column(name) -%}
{{ d.quote(name) if name == 'timestamp' else name }}
{%- endmacro %}

{#- The event columns the session facts read (cfg.carried_columns), each after a comma, as columns
    of `row` (none: unqualified). -#}
{%- macro carried(row=none) -%}
{%- for name, kind in cfg.carried_columns %}, {{ row ~ '.' if row }}{{ d.quote(name) }}{% endfor -%}
{%- endmacro %}

{#- As many typed NULLs, for rows that have none of them (an event a backfill deletes). -#}
{%- macro carried_nulls() -%}
{%- for name, kind in cfg.carried_columns %}, CAST(NULL AS {{ d.column_type(kind) }}){% endfor -%}
{%- endmacro %}

{#- Their keys in the order that picks one copy of an id (after every other column). -#}
{%- macro carried_order() -%}
{%- for name, kind in cfg.carried_columns %}, {{ d.text_order(d.quote(name)) if kind == 'text' else d.quote(name) }} NULLS LAST{% endfor -%}
{%- endmacro %}
