-- The published tables, created once with their layout (before the transaction: DDL commits on
-- most warehouses). Publish writes them with DML only, so their layout, grants and dependent
-- views stay as the warehouse’s owner set them.
{%- for step in steps %}

{{ d.create_table(t.target(step), target_columns[step], d.table_layout(step, cfg.layout_of(step))) }};
{%- endfor %}
