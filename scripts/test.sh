#!/usr/bin/env bash
# Runs the whole test suite (arguments go to pytest), after scripts/bootstrap.sh.
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
exec .venv/bin/python -m pytest "$@"
