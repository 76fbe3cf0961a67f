# The two set-up commands of the README. Both install what is missing first (.ci/install).
.PHONY: install demo test

install:
	bash .ci/install

demo: install
	.venv/bin/ytdq demo

test: install
	.venv/bin/python -m pytest -q
