"""Print pip constraints pinning each dependency of the package (and of the extras named on the
command line) to the lower bound pyproject.toml gives it: the lowest-versions job installs exactly
what the package claims to support at its floor."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

BOUND = re.compile(r"^([A-Za-z0-9_.-]+)\s*>=\s*([^,;\s]+)")


def lower_bounds(extras: list[str]) -> list[str]:
    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in extras:
        requirements += project["optional-dependencies"][extra]
    pins = []
    for requirement in requirements:
        match = BOUND.match(requirement)
        if match:
            pins.append(f"{match.group(1)}=={match.group(2)}")
        elif not requirement.startswith("rudder-sessions"):
            raise SystemExit(f"{requirement!r} has no lower bound (>=) in pyproject.toml")
    return sorted(set(pins))


if __name__ == "__main__":
    print("\n".join(lower_bounds(sys.argv[1:])))
