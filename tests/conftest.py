"""The project's tests take their Redis and server fixtures from the package's own pytest
plugin (:mod:`socketio_redis_async.testing`), as users' suites do.

An editable install registers the plugin through its ``pytest11`` entry point; naming it
here too keeps the suite working in a venv installed before the entry point existed (the
entry point has the module's name, so pytest does not register it twice).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis.configuration import set_hypothesis_home_dir

pytest_plugins = ["socketio_redis_async.testing"]

# Hypothesis keeps its example database out of the working tree.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "socketio-redis-async-hypothesis")
