"""rudder-sessions: identity-stitched sessions and event flows from RudderStack tracks."""

from __future__ import annotations

__version__ = "0.1.0"


def get_provider_info() -> dict:
    """Describe the package to Airflow's provider manager (`airflow providers list`)."""
    return {
        "package-name": "rudder-sessions",
        "name": "RudderStack sessions",
        "description": "Identity-stitched sessions and event flows from RudderStack tracks tables.",
        "versions": [__version__],
        "operators": [
            {
                "integration-name": "RudderStack sessions",
                "python-modules": ["rudder_sessions.operators"],
            }
        ],
        "integrations": [
            {
                "integration-name": "RudderStack sessions",
                "external-doc-url": "https://www.rudderstack.com/docs/",
                "tags": ["software"],
            }
        ],
    }
