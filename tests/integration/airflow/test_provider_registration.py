"""The provider is registered with Airflow, as `airflow providers list` shows (a subprocess)."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.airflow
def test_provider_is_registered():
    out = subprocess.run(
        [sys.executable, "-m", "airflow", "providers", "list", "--output", "json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert '"rudder-sessions"' in out
