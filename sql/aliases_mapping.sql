{#- The aliases mapping by the source's identity rule: the last touch (the default, SPEC table 1)
    or the identity graph (SPEC "Identity graph"). -#}
{%- if cfg.identity == 'graph' %}
{%- include 'identity_graph.sql' %}
{%- else %}
{%- include 'last_touch.sql' %}
{%- endif %}