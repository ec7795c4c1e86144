# levelbot: `make run` serves the demo, `make test` runs every check CI runs.
# Needs GNU make and python3 >= 3.11; everything else goes into .venv.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
VENV_STAMP := $(VENV)/.installed
MANAGE := $(BIN)/python manage.py
HOST ?= 127.0.0.1
PORT ?= 8000

# What `make run` starts: the Procfile's web UI and trading bot together (honcho gives `web`
# the port PORT). The bot trades the demo levels on the paper exchange with a synthetic feed.
SERVE ?= PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start -p $(PORT) web bot

.PHONY: run test bench drills lint format

.venv: $(VENV_STAMP)

# Reinstalls only when a requirements file changes.
$(VENV_STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "levelbot needs Python 3.11 or newer as $(PYTHON); set PYTHON=python3.11 (or newer)."; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || \
		{ echo "Could not create $(VENV). On Debian or Ubuntu: apt-get install python3-venv"; exit 1; }
	$(BIN)/pip install -r requirements-dev.txt
	@touch $@

run: export LEVELBOT_DEMO := 1
run: $(VENV_STAMP)
	$(MANAGE) migrate --noinput
	$(MANAGE) collectstatic --noinput
	$(MANAGE) seed_demo --url http://$(HOST):$(PORT)/
	@printf '\n+%s+\n' "------------------------------------------------"
	@printf '| %-46s |\n' "levelbot demo: http://$(HOST):$(PORT)/" \
		"log in as demo / demo" "the bot trades on paper" "Ctrl-C stops both"
	@printf '+%s+\n\n' "------------------------------------------------"
	$(SERVE)

test: $(VENV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy trading/engine
	$(BIN)/pytest

bench: $(VENV_STAMP)
	$(BIN)/python bench/engine.py
	$(BIN)/python bench/readers.py
	$(BIN)/python bench/backtest.py
	$(BIN)/python bench/runbot.py
	$(BIN)/python bench/live.py
	$(BIN)/python bench/feed_parse.py
	$(BIN)/python bench/web_load.py

# The reliability drills of docs/RELIABILITY.md, at full size (make test runs each one small).
drills: $(VENV_STAMP)
	$(BIN)/python drills/crash.py
	$(BIN)/python drills/faults.py
	$(BIN)/python drills/shutdown.py
	$(BIN)/python drills/load.py
	CI=true LEVELBOT_FUZZ_EXAMPLES=5 $(BIN)/pytest -q tests/drills

lint: $(VENV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV_STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .
