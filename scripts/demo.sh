#!/usr/bin/env bash
# Runs examples/demo.py (two servers, one Redis); arguments go to the demo (--serve, ...).
BOOTSTRAP_NODE=${BOOTSTRAP_NODE:-0} BOOTSTRAP_TEST_TOOLS=${BOOTSTRAP_TEST_TOOLS:-0}
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
exec .venv/bin/python examples/demo.py "$@"
