# The two set-up commands: `make demo` (the platform's main job) and `make test` (every test).
# Each installs what it needs first (Debian packages, .venv, pip packages).
.PHONY: setup demo test lint bench

setup:
	@bash scripts/setup.sh

demo: setup
	@.venv/bin/yinxin demo

test: setup
	@.venv/bin/ruff check src tests bench
	@.venv/bin/ruff format --check src tests bench
	@.venv/bin/python -m pytest -q -n auto --dist loadfile

lint: setup
	@.venv/bin/ruff check src tests bench
	@.venv/bin/ruff format --check src tests bench
