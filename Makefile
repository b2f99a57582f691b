.PHONY: dev test bench

# Run the service with the embedded WeChat simulator and SQLite on 127.0.0.1:8000.
dev:
	scripts/bootstrap
	.venv/bin/wxauth dev $(ARGS)

# Lint, types and every test suite.
test:
	scripts/test

bench:
	scripts/bootstrap
	.venv/bin/python -m bench $(ARGS)
