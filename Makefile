# srs-book: two commands do everything (see README.md).
#   make book   environment + default corpus + every chapter run with the `cpu` profile + HTML book
#   make test   environment + unit tests + the ci comparison grid + chapters under nbval (`ci`
#               profile) + book build + browser check
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

PYTHON_SYSTEM ?= python3
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
PROFILE ?= cpu
JOBS    ?= 1
# The experiment grid of `make experiments`: comparison (Tables 3 and 4), utterances
# (Figure 7), hidden (Figure 11), seeds, emoji_speedup (section 7.2).
NAME    ?= comparison
# The corpus a profile runs on; `make book PROFILE=paper BASE_PATH=/path/to/stickerchat`.
BASE_PATH ?=

export KERAS_BACKEND := torch
export PYTHONHASHSEED := 0

.PHONY: book test env nbval book-ci browser notebooks experiments grid-ci clean

env: $(STAMP)

$(STAMP): requirements.txt constraints.txt pyproject.toml
	@test -x $(PY) || $(PYTHON_SYSTEM) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt -c constraints.txt
	$(PY) -m pip install --quiet --no-deps -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	@touch $@

# The default corpora are generated into data/ (git-ignored) when missing: `tiny` for the
# tests and the ci profile, `small` for the book.
book: $(STAMP)
	$(PY) -m srs_lib experiments book --profile $(PROFILE) $(if $(BASE_PATH),--base_path $(BASE_PATH))

test: $(STAMP)
	$(PY) -m pytest tests -q --ignore=tests/browser
	$(MAKE) --no-print-directory grid-ci nbval book-ci browser

# An experiment grid (NAME, default comparison: every model and ablation of Tables 3 and 4)
# trained through the training chapter, into results/$(NAME)/$(PROFILE)/ (entries already
# there are skipped); JOBS=2 runs two runner processes side by side (on a 2-core CPU, one
# torch thread each).
experiments: $(STAMP)
	$(PY) -m srs_lib experiments run $(NAME) --profile $(PROFILE) --jobs $(JOBS) $(if $(BASE_PATH),--base_path $(BASE_PATH))

# The whole ci grid from scratch, into _build (the committed ci results stay as they are).
grid-ci: $(STAMP)
	rm -rf _build/grid-ci
	$(PY) -m srs_lib experiments run comparison --profile ci --results_dir _build/grid-ci

# Every chapter re-executed with the committed `ci` parameters and compared with the committed
# outputs. One torch thread, as `experiments notebooks` uses: a training chapter's numbers
# depend on the order of float reductions, which depends on the thread count.
nbval: $(STAMP)
	$(PY) -m srs_lib experiments corpus --profile ci
	OMP_NUM_THREADS=1 $(PY) -m pytest --nbval book --nbval-sanitize-with nbval_sanitize.cfg -q

# The book as committed (ci outputs), built with warnings as errors.
book-ci: $(STAMP)
	$(PY) -m srs_lib experiments build --profile ci

browser: $(STAMP)
	@command -v chromium >/dev/null || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }
	$(PY) -m pytest tests/browser -q

# Regenerate the committed notebooks (the nbval baseline) from the .py sources with the ci profile.
notebooks: $(STAMP)
	$(PY) -m srs_lib experiments notebooks --profile ci

clean:
	rm -rf _build
