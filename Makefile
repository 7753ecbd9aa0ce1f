PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench bench-scale lint clean lock

LOCK := requirements.lock

# Every dependency at the version and with the hashes in the lock file; then the project itself.
# `pip check` catches a dependency added to pyproject.toml but not locked yet (run `make lock`).
$(STAMP): pyproject.toml $(LOCK)
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "needs $(PYTHON)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/pip check >/dev/null || { $(BIN)/pip check; echo "the lock file does not match pyproject.toml: run make lock"; exit 1; }
	touch $(STAMP)

# Refresh the lock file: the newest versions pyproject.toml allows, for Python 3.11 on any platform.
lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --generate-hashes --universal --python-version 3.11 \
		--upgrade --custom-compile-command "make lock" -o $(LOCK)

# `make run PORT=8001` for a second instance; the first one's demo data is left alone.
PORT ?= 8000

# The demo's console asks for level 1: the demo citizen (its operator) has no passkey and is not verified
# in person, so level 3, the default, is out of their reach. `IDP_OFFICE_LEVEL=3 make run` to try the step-up.
run: $(STAMP)
	IDP_OFFICE_LEVEL=$${IDP_OFFICE_LEVEL:-1} $(BIN)/idp demo --port $(PORT)

test: $(STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile -q

bench: $(STAMP)
	$(BIN)/python bench/run.py $(BENCH_ARGS)

bench-scale: $(STAMP)
	$(BIN)/python bench/scale.py $(SCALE_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) var
