# The set-up commands of the README (`make demo`, `make test`; details: docs/index.md). Each installs what is missing first (.ci/install).
.PHONY: install demo test report

install:
	bash .ci/install

demo: install
	.venv/bin/ytdq demo

# four pytest-xdist workers, each with its own PostgreSQL, redis-server and project copy, each
# test module on one worker (its module fixtures set up once; the longest modules first: tests/conftest.py)
# (measured here: 298 s against 409 s for one process; docs/pipelines.md, "Use it in a pipeline")
test: install
	.venv/bin/python -m pytest -q -n 4 --dist loadscope --no-loadscope-reorder

# The seed's test report: its groups (schema, data validation, performance, integrity, migrations)
# in one pytest run; writes database_test_report.json, prints the summary table, fails unless all passed.
report: install
	.venv/bin/python -m tests.report
