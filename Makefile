# Two commands do all the set-up on a fresh machine (python3 >= 3.10 with venv and pip):
#   make demo   create .venv, install, then the whole pipeline on the bundled Iris
#               (data, train, verify, export, compare, edge, bench -> artifacts/runs/iris/report.html)
#   make test   create .venv, install, then run the whole test suite
#
# torch is installed as torch==2.13.0 before the package. Where the package index serves a
# CPU wheel for that pin (as on the development machine) that is what pip takes; on the public
# index, Linux resolves the same pin to the CUDA build, which pulls multi-GB nvidia packages.
# For the CPU build from PyTorch's own CPU wheel index:
#   make demo TORCH_INDEX=https://download.pytorch.org/whl/cpu
# (TORCH_INDEX is passed as --index-url to the torch install only; empty = the default index.)
# The install step is stamped, so it reruns only when pyproject.toml changes.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.irisonnx-installed
RUN    ?= artifacts/runs/iris
TORCH_INDEX ?=

.PHONY: demo test fuzz-tests install web-deps clean-artifacts constraints

demo: $(STAMP) web-deps
	$(BIN)/irisonnx pipeline --run $(RUN)

test: $(STAMP) web-deps
	$(BIN)/python -m pytest -q

# The property tests with fresh random examples each run (make test runs them derandomized:
# the same examples every time) and 50x the examples per parser (IRISONNX_SLOW=1). A failure
# prints the falsifying example: add it to the test as an explicit @example.
fuzz-tests: $(STAMP)
	HYPOTHESIS_PROFILE=wide IRISONNX_SLOW=1 $(BIN)/python -m pytest -q tests/test_reliability_fuzz.py tests/test_compare_numeric.py tests/test_data.py

# onnxruntime-web and playwright-core for the browser runtime (npm ci: exactly the lock file).
# Skipped with a note where npm is absent; the browser tests then skip unless
# IRISONNX_REQUIRE_BROWSER is set (.ci/run sets it).
web-deps: web/node_modules/.irisonnx-installed

web/node_modules/.irisonnx-installed: web/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		cd web && npm ci --no-audit --no-fund --loglevel=error && touch node_modules/.irisonnx-installed; \
	else echo "npm not found: the browser runtime (web) stays unavailable"; fi

install: $(STAMP)

# constraints.txt holds the tested version of every package (a lock, as pip-tools would write):
# resolving the extras without it backtracks for many minutes and can give up.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[all,test]'
	@touch $@

# Rewrite constraints.txt from the working .venv (after changing pyproject's dependencies).
constraints:
	@{ sed -n '/^#/p' constraints.txt; $(BIN)/python -m pip freeze --exclude-editable | grep -v '^torch==\|^irisonnx\|^#'; } > constraints.txt.new && mv constraints.txt.new constraints.txt

# Generated outputs only; datastore/raw and the READMEs stay.
clean-artifacts:
	rm -rf artifacts/runs datastore/processed
