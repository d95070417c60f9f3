"""`python -m rudder_sessions` is the `rudder-sessions` command."""

from __future__ import annotations

import sys

from rudder_sessions.cli import main

if __name__ == "__main__":
    sys.exit(main())
