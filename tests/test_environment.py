"""pyproject.toml (pip) and environment.yml (conda, Binder) list the same dependencies."""

import re

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    from pip._vendor import tomli as tomllib

import yaml

from conftest import ROOT


def _normalize(requirement: str) -> tuple[str, str]:
    name, spec = re.fullmatch(r"\s*([A-Za-z0-9_.\-]+)\s*(.*)", requirement).groups()
    return re.sub(r"[-_.]+", "-", name).lower(), spec.replace(" ", "")


def test_pyproject_and_environment_yml_list_the_same_dependencies():
    pip = dict(map(_normalize, tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]))
    conda_entries = yaml.safe_load((ROOT / "environment.yml").read_text())["dependencies"]
    conda = dict(_normalize(e) for e in conda_entries if isinstance(e, str) and not e.startswith(("python", "pip")))
    assert conda == pip, (
        f"only in pyproject.toml: {sorted(set(pip.items()) - set(conda.items()))}; "
        f"only in environment.yml: {sorted(set(conda.items()) - set(pip.items()))}")


def test_python_versions_agree():
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    conda_python = next(e for e in yaml.safe_load((ROOT / "environment.yml").read_text())["dependencies"]
                        if isinstance(e, str) and re.match(r"python\b", e))
    assert conda_python.replace("python", "") == requires


def test_ci_runs_the_readme_test_command_verbatim():
    readme = (ROOT / "README.md").read_text()
    command = re.search(r"<!-- test-command -->\s*```sh\n(.+?)\n```", readme, re.S)
    assert command, "the README marks its test command with <!-- test-command -->"
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert command[1].strip() in ci_lines
