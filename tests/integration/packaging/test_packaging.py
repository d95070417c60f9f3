"""The package as users install it next to their own Airflow: lower bounds only, each warehouse
behind an extra, what it imports declared, the templates and the license inside the wheel, links of
the README that resolve."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
import zipfile
from email.parser import Parser

import pytest

from warehouses import ROOT

PACKAGE = ROOT / "plugins" / "rudder_sessions"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
EXTRAS = {"duckdb", "postgres", "snowflake", "bigquery", "redshift", "openlineage"}
# Where the package's imports come from: a module prefix -> its distribution.
DISTRIBUTIONS = {
    "airflow.providers.common.sql": "apache-airflow-providers-common-sql",
    "airflow.providers.common.compat": "apache-airflow-providers-common-sql",  # common-sql requires it
    "airflow.providers.duckdb": "apache-airflow-providers-duckdb",
    "airflow.providers.postgres": "apache-airflow-providers-postgres",
    "airflow.providers.snowflake": "apache-airflow-providers-snowflake",
    "airflow.providers.google": "apache-airflow-providers-google",
    "airflow.providers.amazon": "apache-airflow-providers-amazon",
    "airflow.providers.openlineage": "apache-airflow-providers-openlineage",
    "airflow": "apache-airflow",
    # Airflow's metadata ORM: the run-note listener writes through the scheduler's own session.
    "sqlalchemy": "apache-airflow",
    "yaml": "pyyaml",
    "jinja2": "jinja2",
    "duckdb": "duckdb",
}


def requirement_name(requirement: str) -> str:
    return re.match(r"[A-Za-z0-9_.-]+", requirement).group(0).lower()


def imports_of_package() -> dict[str, bool]:
    """Every non-stdlib, non-package module the package imports -> whether some import is at module level."""
    found: dict[str, bool] = {}
    for path in PACKAGE.glob("*.py"):
        tree = ast.parse(path.read_text())
        top_level = {id(node) for node in tree.body}
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                root = name.split(".")[0]
                if root in sys.stdlib_module_names or root in ("rudder_sessions", "__future__"):
                    continue
                found[name] = found.get(name, False) or id(node) in top_level
    return found


def distribution_of(module: str) -> str:
    prefix = max((p for p in DISTRIBUTIONS if module == p or module.startswith(p + ".")), key=len, default=None)
    assert prefix, f"the package imports {module}, which no dependency of pyproject.toml provides"
    return DISTRIBUTIONS[prefix]


def test_dependencies_are_lower_bounds_and_each_warehouse_is_an_extra():
    runtime = {requirement_name(r): r for r in PROJECT["dependencies"]}
    assert all(">=" in r and "==" not in r for r in runtime.values()), runtime
    extras = PROJECT["optional-dependencies"]
    assert EXTRAS <= set(extras)
    for extra in EXTRAS:
        assert all(">=" in r and "==" not in r for r in extras[extra]), (extra, extras[extra])
    assert not {requirement_name(r) for extra in EXTRAS for r in extras[extra]} & set(runtime)


def test_what_the_package_imports_is_declared_where_it_is_needed():
    runtime = {requirement_name(r) for r in PROJECT["dependencies"]}
    optional = {requirement_name(r) for extra in EXTRAS for r in PROJECT["optional-dependencies"][extra]}
    for module, at_module_level in imports_of_package().items():
        distribution = distribution_of(module)
        if at_module_level:  # imported whatever the warehouse: a runtime dependency
            assert distribution in runtime, f"{module} is imported at module level but {distribution} is an extra"
        else:
            assert distribution in runtime | optional, f"{module}: {distribution} is not declared"
    assert runtime <= {distribution_of(m) for m in imports_of_package()}, "a runtime dependency nothing imports"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    uv = ROOT / ".venv" / "bin" / "uv"
    done = subprocess.run(
        [str(uv), "build", "--quiet", "--wheel", "--out-dir", str(out), str(ROOT)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    (path,) = out.glob("rudder_sessions-*.whl")
    return zipfile.ZipFile(path)


def test_the_wheel_carries_the_version_templates_and_license(wheel):
    import rudder_sessions

    names = wheel.namelist()
    (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
    meta = Parser().parsestr(wheel.read(metadata).decode())
    assert meta["Version"] == rudder_sessions.__version__
    assert meta["License-Expression"] == "Apache-2.0"
    assert set(meta.get_all("Provides-Extra")) >= EXTRAS
    assert not [r for r in meta.get_all("Requires-Dist") if "==" in r.split(";")[0]]
    templates = {n.rsplit("/", 1)[1] for n in names if n.startswith("rudder_sessions/sql/") and n.endswith(".sql")}
    assert templates == {p.name for p in (ROOT / "sql").glob("*.sql")}
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "Apache License" in (ROOT / "LICENSE").read_text()
    assert f"## {rudder_sessions.__version__}" in (ROOT / "CHANGELOG.md").read_text()


def test_the_readme_links_resolve():
    readme = (ROOT / "README.md").read_text()
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", readme)
    local = [t for t in targets if not re.match(r"[a-z]+://", t)]
    assert "docs/SPEC.md" in local
    assert [t for t in local if not (ROOT / t).exists()] == []
