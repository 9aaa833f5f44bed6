#!/usr/bin/env bash
# Runs the cluster benchmark, bench/run.py (arguments are passed through: --quick, --profile,
# --repeat N, ...), after scripts/bootstrap.sh. The JSON goes to bench/results/.
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
exec .venv/bin/python bench/run.py "$@"
