# The two set-up commands (see README.md):
#   make demo   install everything into .venv, run the lecture demo -> build/demo/
#   make test   unit tests + every notebook executed under nbval
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEMO   := notebooks/02_gradient_descent.ipynb

.PHONY: demo test notebooks lab data release site lock student-repo

# Installs the lock (every transitive dependency, exact version, hash-checked); requirements.txt holds the direct pins.
$(STAMP): requirements-lock.txt requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --require-hashes -r requirements-lock.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

# The demo notebook needs no data set, so nothing is fetched (notebooks fetch what they use on first use).
demo: $(STAMP)
	$(PY) scripts/run_notebooks.py $(DEMO) --output-dir build/demo --html

test: $(STAMP)
	TQDM_DISABLE=1 OMP_NUM_THREADS=1 $(PY) -m pytest -n 2 --dist loadfile -p no:cacheprovider \
		--nbval-lax --nbval-current-env --nbval-cell-timeout=600 tests notebooks

# Regenerate the committed outputs of every notebook (run before committing a notebook change).
notebooks: $(STAMP)
	$(PY) scripts/run_notebooks.py notebooks/*.ipynb

# JupyterLab on the repository root (notebooks, notes, coursework); as root (containers) it needs --allow-root.
lab: $(STAMP)
	$(VENV)/bin/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root) --notebook-dir=.

# The course website (Jupyter Book, from the committed executed notebooks) -> build/site/index.html
site: $(STAMP)
	$(PY) scripts/build_site.py

# Re-resolve requirements-lock.txt after editing requirements.txt (torch 2.14.1 comes from this machine's local index).
lock:
	$(VENV)/bin/uv pip compile requirements.txt --quiet --generate-hashes --python-version 3.11.7 \
		--python-platform x86_64-manylinux_2_28 --index-strategy unsafe-best-match \
		--extra-index-url file:///opt/pypi/simple --extra-index-url file:///opt/pypi-more/simple \
		--custom-compile-command "make lock" --output-file requirements-lock.txt

data: $(STAMP)
	$(PY) data/fetch.py

# Regenerate the student versions of the assignments (coursework/release/) from coursework/source/.
release: $(STAMP)
	$(PY) -m coursework.release

# The repository students get: no instructor sources, solutions, hidden tests or grader (see coursework/README.md).
student-repo: $(STAMP)
	$(PY) -m coursework.export build/student-repo
