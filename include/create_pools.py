"""Create the Airflow pools the sources file names, with one slot each, where they do not exist yet.

A task in a pool that does not exist is never scheduled (the scheduler only logs a warning), so a
deployment runs this after `airflow db migrate`: `make standalone`, compose's airflow-init and the
end-to-end test do. An existing pool is left as it is, slots included.

    python include/create_pools.py [sources.yaml]     # default: $RUDDER_SESSIONS_CONFIG
"""

from __future__ import annotations

import sys

from rudder_sessions.config import load_config
from rudder_sessions.errors import ConfigError


def create_pools(path: str | None = None) -> list[str]:
    """The pools created (existing ones are kept)."""
    from airflow.models.pool import Pool

    created = []
    for name, sources in load_config(path).pools.items():
        if Pool.get_pool(name) is None:
            description = f"rudder-sessions: one task at a time of {', '.join(sources)}"
            Pool.create_or_update_pool(name, 1, description, include_deferred=False)
            created.append(name)
    return created


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        created = create_pools(args[0] if args else None)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for name in created:
        print(f"created Airflow pool {name} (1 slot)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
