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

{#- Whether an id column holds a junk value of the identity graph (identity_exclude: compared
    trimmed and case-insensitively). -#}
{%- macro is_junk(column) -%}
LOWER({{ d.trim_blank(column) }}) IN ({% for value in cfg.excluded_ids %}{{ d.literal(value) }}{{ ', ' if not loop.last }}{% endfor %})
{%- endmacro %}

{#- An id column as the run reads it: blank is NULL, and under the identity graph a junk value too. -#}
{%- macro clean_id(column) -%}
{%- if cfg.identity == 'graph' and cfg.excluded_ids -%}
CASE WHEN {{ is_junk(column) }} THEN NULL ELSE {{ d.blank_to_null(column) }} END
{%- else -%}
{{ d.blank_to_null(column) }}
{%- endif -%}
{%- endmacro %}

{#- How many of the listed id columns of a row hold a junk value (0 outside the identity graph). -#}
{%- macro junk_count(columns) -%}
{%- if cfg.identity == 'graph' and cfg.excluded_ids -%}
{%- for column in columns %}CASE WHEN {{ is_junk(column) }} THEN 1 ELSE 0 END{{ ' + ' if not loop.last }}{% endfor -%}
{%- else -%}
0
{%- endif -%}
{%- endmacro %}

{#- The identifier an event's visitor is looked up by in the aliases mapping (`row`: its alias):
    the last touch maps anonymous ids only (a user id is its own visitor); the identity graph maps
    the user id when there is one, else the anonymous id. -#}
{%- macro visitor_key(row) -%}
{%- if cfg.identity == 'graph' -%}
COALESCE({{ row }}.user_id, {{ row }}.anonymous_id)
{%- else -%}
{{ row }}.anonymous_id
{%- endif -%}
{%- endmacro %}

{#- An event's visitor, from its row and its looked-up mapping row `aliases`. -#}
{%- macro visitor_of(row) -%}
{%- if cfg.identity == 'graph' -%}
aliases.dbt_visitor_id
{%- else -%}
COALESCE({{ row }}.user_id, aliases.dbt_visitor_id)
{%- endif -%}
{%- endmacro %}

{#- The published events whose visitor follows a remapped identifier (of `remapped`): under the
    last touch the anonymous events of a remapped anonymous id; under the graph every event keyed
    by it. -#}
{%- macro follows_remapped(row, remapped) -%}
{%- if cfg.identity == 'graph' -%}
({{ row }}.user_id IN (SELECT alias FROM ({{ remapped }}
          ))
           OR ({{ row }}.user_id IS NULL AND {{ row }}.anonymous_id IN (SELECT alias FROM ({{ remapped }}
          ))))
{%- else -%}
{{ row }}.user_id IS NULL
          AND {{ row }}.anonymous_id IN (SELECT alias FROM ({{ remapped }}
          ))
{%- endif -%}
{%- endmacro %}
