# Thin wrappers over ./run (which bootstraps .venv and the servers' packages itself).
.PHONY: bootstrap test unit integration contracts verify up lint bench clean

bootstrap:
	./run bootstrap

test:
	./run tests

unit:
	./run tests tests -m "not integration"

integration:
	./run tests -m "integration or e2e or dlq or correlation or fault or security or fuzz"

contracts:
	./run tests contracts

verify:
	./run verify

up:
	./run up

lint: bootstrap
	.venv/bin/ruff check harness reference_impl tests scenarios contracts load bench

bench: bootstrap
	.venv/bin/python -m bench.validate
	.venv/bin/python -m bench.backends
	.venv/bin/python -m bench.bloodbank
	.venv/bin/python -m bench.candystore
	.venv/bin/python -m bench.stream_fanout
	.venv/bin/python -m bench.pipeline
	.venv/bin/python -m bench.generator

clean:
	rm -rf reports .pytest_cache build *.egg-info
