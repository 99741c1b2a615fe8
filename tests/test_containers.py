"""The Apptainer recipe and the conda environment install this package with
the dependency pins of pyproject.toml, and nothing that contradicts them.

pyproject.toml is the single source of the pins: containers/tlsfinder.def
and envs/tlsfinder.yaml install the package itself (so pip reads the pins
from pyproject.toml).  Any other pinned requirement they name must equal
pyproject's pin for the same distribution.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from spython.main.parse.parsers import SingularityParser

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "containers" / "tlsfinder.def"
CONDA_ENV = ROOT / "envs" / "tlsfinder.yaml"
PKG_DIR = "/opt/tlsfinder"  # where the recipe copies the repository


# ----------------------------------------------------------------- helpers
def pyproject() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as fh:
        return tomllib.load(fh)["project"]


def pinned_requirements() -> dict[str, str]:
    """Distribution name (canonical) -> exact version pinned in pyproject.toml."""
    project = pyproject()
    reqs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        reqs += extra
    pins = {}
    for line in reqs:
        req = Requirement(line)
        (spec,) = req.specifier  # every dependency is pinned with ==
        assert spec.operator == "==", f"pyproject.toml: {line!r} is not pinned with =="
        pins[canonicalize_name(req.name)] = spec.version
    return pins


def parse_recipe(path: Path):
    recipe = SingularityParser(str(path)).recipe
    assert list(recipe) == ["spython-base"], f"{path}: expected a single-stage recipe"
    return recipe["spython-base"]


def post_lines(recipe) -> list[str]:
    """The %post commands (spython appends %test as `echo ... >> /tests.sh` lines)."""
    return [
        line
        for line in recipe.install
        if not line.rstrip().endswith(">> /tests.sh") and line.strip() != "chmod u+x /tests.sh"
    ]


def pip_install_args(lines: list[str]) -> list[str]:
    """Arguments (not options) of every `pip install` in shell lines."""
    args = []
    for line in lines:
        for m in re.finditer(r"\bpip3?\s+install\s+([^;&|]*)", line):
            args += [a.strip("'\"") for a in m.group(1).split() if not a.startswith("-")]
    return args


def pin_conflicts(requirements: list[str], pins: dict[str, str]) -> list[str]:
    """Requirement strings that name a version other than pyproject's pin."""
    bad = []
    for text in requirements:
        try:
            req = Requirement(text)
        except InvalidRequirement:
            continue  # a path or URL, e.g. the package itself
        name = canonicalize_name(req.name)
        if not req.specifier:
            continue
        if name not in pins:
            bad.append(f"{text} (not a dependency in pyproject.toml)")
        elif pins[name] not in req.specifier or str(req.specifier) != f"=={pins[name]}":
            bad.append(f"{text} (pyproject.toml pins =={pins[name]})")
    return bad


def image_python(from_header: str) -> str:
    m = re.fullmatch(r"python:(\d+\.\d+)[\w.-]*", from_header)
    assert m, f"unexpected base image {from_header!r}"
    return m.group(1)


# ------------------------------------------------------- Apptainer recipe
def test_recipe_base_image_is_python_311_slim_and_allowed_by_pyproject():
    recipe = parse_recipe(RECIPE)
    assert recipe.fromHeader == "python:3.11-slim-bookworm"
    assert RECIPE.read_text().splitlines()[0].strip().lower() == "bootstrap: docker"
    assert f"{image_python(recipe.fromHeader)}.0" in SpecifierSet(pyproject()["requires-python"])


def test_recipe_copies_the_package_and_pip_installs_it():
    recipe = parse_recipe(RECIPE)
    copied = {}
    for line in recipe.files:
        src, dst = line.split()
        copied[src] = dst
    assert copied.get("pyproject.toml") == f"{PKG_DIR}/pyproject.toml"
    assert copied.get("src") == f"{PKG_DIR}/src"
    # the build reads the readme named in pyproject.toml: it must be copied too
    readme = pyproject()["readme"]
    assert copied.get(readme) == f"{PKG_DIR}/{readme}"
    # every copied source exists in the repository (else the build stops)
    for src in copied:
        assert (ROOT / src).exists(), f"{RECIPE}: %files copies {src}, which does not exist"

    args = pip_install_args(post_lines(recipe))
    assert PKG_DIR in args, f"%post does not `pip install {PKG_DIR}`: {args}"
    assert "pip check" in " ".join(post_lines(recipe))


def test_recipe_pins_nothing_that_disagrees_with_pyproject():
    recipe = parse_recipe(RECIPE)
    args = pip_install_args(post_lines(recipe))
    assert pin_conflicts(args, pinned_requirements()) == []
    # Single source: the recipe installs only the package (pins come from pyproject).
    assert [a for a in args if a != PKG_DIR] == []


def test_pin_checker_catches_a_wrong_pin(tmp_path):
    bad = tmp_path / "bad.def"
    bad.write_text(
        RECIPE.read_text().replace(
            f"python -m pip install {PKG_DIR}",
            f"python -m pip install {PKG_DIR} numpy==1.26.4 scipy lightgbm>=4",
        )
    )
    args = pip_install_args(post_lines(parse_recipe(bad)))
    conflicts = pin_conflicts(args, pinned_requirements())
    assert [c.split()[0] for c in conflicts] == ["numpy==1.26.4", "lightgbm>=4"]


def test_recipe_has_test_labels_help_and_version_label():
    text = RECIPE.read_text()
    recipe = parse_recipe(RECIPE)
    assert recipe.test is not None
    tests = [line for line in recipe.install if line.rstrip().endswith(">> /tests.sh")]
    assert any("import tlsfinder" in line for line in tests)
    labels = dict(line.split(None, 1) for line in recipe.labels)
    assert labels["org.opencontainers.image.version"] == pyproject()["version"]
    assert labels["org.opencontainers.image.title"] == "tlsfinder"
    assert re.search(r"^%help\s*$", text, re.M)
    assert "PYTHONNOUSERSITE=1" in recipe.environ
    assert recipe.cmd.startswith("exec tlsfinder")


# ---------------------------------------------------------- conda env file
def load_conda_env() -> dict:
    with open(CONDA_ENV) as fh:
        env = yaml.safe_load(fh)
    assert isinstance(env, dict) and "dependencies" in env, f"{CONDA_ENV}: no dependencies"
    return env


def conda_pip_lines(env: dict) -> list[str]:
    pips = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    assert len(pips) == 1, f"{CONDA_ENV}: expected one pip: section"
    return pips[0]


def test_conda_env_python_matches_image_and_pyproject():
    env = load_conda_env()
    conda_specs = [d for d in env["dependencies"] if isinstance(d, str)]
    pythons = [d for d in conda_specs if re.match(r"python\b", d)]
    assert pythons == ["python=3.11"]
    version = pythons[0].split("=", 1)[1]
    assert version == image_python(parse_recipe(RECIPE).fromHeader)
    assert f"{version}.0" in SpecifierSet(pyproject()["requires-python"])
    assert "pip" in conda_specs
    assert "conda-forge" in env["channels"]


def test_conda_env_installs_the_package_and_no_other_pins():
    lines = conda_pip_lines(load_conda_env())
    assert lines[0] == "-e ${TLSFINDER_ROOT}"
    others = [ln for ln in lines if ln != "-e ${TLSFINDER_ROOT}"]
    assert pin_conflicts(others, pinned_requirements()) == []
    assert others == []


def test_conda_env_pip_lines_resolve_to_this_package(tmp_path):
    """pip expands ${TLSFINDER_ROOT} in the env's pip lines to this checkout.

    conda hands the pip: section to `pip install -r <requirements file>`; we do
    the same with --dry-run and check that pip would install this package.
    """
    req = tmp_path / "requirements.txt"
    req.write_text("\n".join(conda_pip_lines(load_conda_env())) + "\n")
    env = dict(os.environ, TLSFINDER_ROOT=str(ROOT), PIP_DISABLE_PIP_VERSION_CHECK="1")
    out = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--no-deps", "-r", str(req)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert f"Would install tlsfinder-{pyproject()['version']}" in out.stdout
