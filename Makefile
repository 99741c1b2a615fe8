# Developer and CI entry points.
#
#   make venv   create .venv (python3.11 -m venv) and install the package with its test extra
#   make test   run the test suite in 2 workers (includes the one-node Slurm tests when Slurm is installed)
#   make demo   run the workflow on the embedded demo config with the local profile
#   make clean  remove .venv, build leftovers and caches (results/ is kept)
#
# The venv is rebuilt only when pyproject.toml changes (stamp file .venv/.installed).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
STAMP := $(VENV)/.installed
# Two pytest workers, one test file each at a time (a file's tests share its fixtures, e.g. the Slurm cluster),
# files in conftest's order: the whole-pipeline files first (xdist would otherwise start with the largest files).
TEST_WORKERS ?= 2

.PHONY: venv test demo clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

test: $(STAMP)
	$(VENV)/bin/pytest -q -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

demo: $(STAMP)
	$(VENV)/bin/snakemake --profile profiles/local

clean:
	rm -rf $(VENV) build .pytest_cache src/*.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
