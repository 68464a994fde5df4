# Every target installs what it needs: `make test` and `make book` on a fresh clone check the
# tools the machine must bring (Python 3.11, npm), install Chromium for the browser tests when
# they can, create the virtual environment in .venv and install the pinned packages into it.
# The environment every target runs in; `make VENV=/path/to/venv test` uses another one
# (its .installed stamp tells the set-up that it is complete).
VENV    ?= .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
# The interpreter .venv is created from: `make PYTHON=python3.11 test` when python3 is another.
PYTHON  ?= python3
# The one Python the pins are tested on (CI, Binder); pyproject.toml's requires-python follows.
PYTHON_VERSION := 3.11

.PHONY: setup check-host chromium test quick lint unit book bench notebooks clean

# Everything `make test` installs, without running a test.
setup: check-host chromium $(STAMP)

# What the set-up cannot install by itself, checked before anything is installed: the Python
# that .venv is (or will be) made from, with its venv module, and npm.
check-host:
	@py="$(PYTHON)"; if [ -x $(PY) ]; then py=$(PY); fi; \
	if ! command -v "$$py" >/dev/null 2>&1; then \
		echo "make: $$py not found. adalearn needs Python $(PYTHON_VERSION):" \
			"install it, or name it with make PYTHON=python$(PYTHON_VERSION) ..." >&2; \
		exit 1; \
	fi; \
	version="$$("$$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)"; \
	if [ -z "$$version" ]; then \
		echo "make: $$py does not run. adalearn needs Python $(PYTHON_VERSION)." >&2; \
		exit 1; \
	fi; \
	if [ "$$version" != "$(PYTHON_VERSION)" ]; then \
		echo "make: $$py is Python $$version; the pinned environment needs Python" \
			"$(PYTHON_VERSION). Install it and run make PYTHON=python$(PYTHON_VERSION) ..." \
			"(after rm -rf $(VENV) if $(VENV) was made with Python $$version)." >&2; \
		exit 1; \
	fi; \
	if [ ! -x $(PY) ] && ! "$$py" -c 'import ensurepip, venv' >/dev/null 2>&1; then \
		echo "make: $$py cannot create a virtual environment. On Debian:" \
			"apt-get install -y python$(PYTHON_VERSION)-venv" >&2; \
		exit 1; \
	fi
	@if ! command -v npm >/dev/null 2>&1; then \
		echo "make: npm not found; the set-up installs the pinned MathJax of the site with it." \
			"On Debian: apt-get install -y npm" >&2; \
		exit 1; \
	fi

# The browser tests drive Debian's chromium, or the browser that $ADALEARN_CHROMIUM names.
# Root installs it here; anyone else is told the one command, before any test has run.
chromium:
	@if [ -n "$$ADALEARN_CHROMIUM" ]; then \
		if [ ! -x "$$ADALEARN_CHROMIUM" ]; then \
			echo "make: ADALEARN_CHROMIUM=$$ADALEARN_CHROMIUM is not an executable file" >&2; \
			exit 1; \
		fi; \
	elif command -v chromium >/dev/null 2>&1; then \
		:; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "make: installing Debian's chromium for the browser tests"; \
		export DEBIAN_FRONTEND=noninteractive; \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null \
			&& chromium --version 2>/dev/null; \
	else \
		echo "make: the browser tests need Chromium, which is not installed. Run:" >&2; \
		echo "    sudo apt-get update && sudo apt-get install -y chromium" >&2; \
		echo "(or point ADALEARN_CHROMIUM at a Chromium or Chrome executable)" >&2; \
		exit 1; \
	fi

# npm installs the pinned MathJax that the built site serves itself (see book/_ext).
$(STAMP): requirements.txt pyproject.toml tools/widget-assets/package-lock.json | check-host
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	# mup, the reference for the muP tests and chapter 18, declares torchvision and plotting
	# packages it does not import; with them pip would replace the pinned CPU torch.
	$(PY) -m pip install --quiet --no-deps mup==1.0.0
	npm ci --prefix tools/widget-assets --ignore-scripts --no-audit --no-fund --silent
	touch $(STAMP)

# mypy checks the modules pyproject.toml lists under [tool.mypy].
lint: $(STAMP)
	$(VENV)/bin/ruff check adalearn tests benchmarks tools book
	$(VENV)/bin/mypy
	$(PY) tools/strip_notebooks.py --check

# Two pytest runs, so that each notebook executes once. The first executes every notebook under
# nbmake, in a fresh copy of the book in $(EXECUTED), beside the tests that do not read the
# built book; the second builds the book from those executed copies (-W, execution off, after
# checking that each passed with this checkout's package and cells: tools/executed_book.py)
# and runs the checks of the built site. Both runs always run; either failing fails the target.
# One thread per worker: two workers with a torch thread pool each would stall each other.
EXECUTED := $(CURDIR)/.executed
PYTEST   := PYTHONPATH=$(CURDIR) OMP_NUM_THREADS=1 $(VENV)/bin/pytest -n 2
unit: chromium $(STAMP)
	$(PY) -m tools.executed_book $(EXECUTED)
	@status=0; \
	$(PYTEST) -p tools.executed_book --nbmake --overwrite -m "not notebooks" \
		$(EXECUTED)/book tests || status=1; \
	ADALEARN_EXECUTED_BOOK=$(EXECUTED) $(PYTEST) -m notebooks tests || status=1; \
	exit $$status

# The checks and installs come first, so a missing tool stops the run before any test.
test: setup lint unit

# The edit-test loop: the unit tests without the slow ones, the browser and the notebooks.
quick: $(STAMP)
	$(PYTEST) -m "not slow and not browser and not notebooks" tests

book: check-host $(STAMP)
	@if [ -f _toc.yml ]; then \
		$(VENV)/bin/jupyter-book build . -W -n --keep-going; \
	else \
		echo "make book: the book (_toc.yml, book/) is not in this checkout yet"; exit 1; \
	fi

# Strip outputs from the notebooks and write their install cell from _config.yml.
notebooks: $(STAMP)
	$(PY) tools/strip_notebooks.py

bench: $(STAMP)
	$(PY) -m benchmarks

clean:
	rm -rf _build .executed .pytest_cache .ruff_cache .mypy_cache
