# Two commands do all the set-up on a fresh machine:
#   make demo   install Bastion into .venv and run the flagship demo
#   make test   install Bastion with its test tools into .venv and run the whole test suite
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
EXTRAS ?= dev,all

.PHONY: install demo test lint services clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed-$(EXTRAS): pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[$(EXTRAS)]"
	touch $@

install: $(VENV)/.installed-$(EXTRAS)

demo: install
	$(BIN)/bastion demo

services:
	bash scripts/system-deps.sh
	bash scripts/services.sh

test: install services
	$(BIN)/pytest -q -n 2 --dist loadgroup

lint: install
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy src

clean:
	rm -rf $(VENV) .bastion bastion-demo
