# Every target creates the virtual environment in .venv when it is missing.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: test lint unit book bench notebooks clean

# The widget scripts a published page loads from a CDN, pinned, for the frozen-widget test.
$(STAMP): requirements.txt pyproject.toml tools/widget-assets/package-lock.json
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	npm ci --prefix tools/widget-assets --ignore-scripts --no-audit --no-fund --silent
	touch $(STAMP)

lint: $(STAMP)
	$(VENV)/bin/ruff check adalearn tests benchmarks tools book
	$(PY) tools/strip_notebooks.py --check

# One pytest run: the unit tests, every notebook under nbmake, the book build and the browser
# checks of the built site (the build runs on one worker while the other takes the rest).
# One thread per worker: two workers with a torch thread pool each would stall each other.
unit: $(STAMP)
	OMP_NUM_THREADS=1 $(VENV)/bin/pytest -n 2 --nbmake tests book

test: lint unit

book: $(STAMP)
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
	rm -rf _build .pytest_cache .ruff_cache
