"""The sdist and wheel that ``python -m build`` makes install into a clean venv and work.

One module-scoped build and venv serve every test here:

* the build runs ``python -m build --no-isolation`` (sdist, then the wheel from the
  unpacked sdist) on a copy of only what the sdist needs, so the work tree stays clean and
  no build backend is downloaded (the test extra brings ``build`` and ``setuptools``);
* the venv is made with ``python -m venv --without-pip`` (no site packages, no pip
  bootstrap) and filled by this interpreter's pip (``pip --python``) with
  ``--no-index --find-links`` from a wheelhouse of PyPI wheels cached under
  ``~/.cache/socketio-redis-async/wheelhouse``: downloaded (``pip download``, through the
  configured index) only the first time or when a requirement changed, so a warm run
  installs offline in seconds.

First the wheel alone goes in (the runtime dependencies only: pytest must be absent), then
its ``testing`` extra and hypothesis, and the unit tests and a user's test file run from
temporary directories against the installed package.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import socketio_redis_async

pytestmark = [pytest.mark.packaging, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
SDIST_INPUTS = ("pyproject.toml", "README.md", "LICENSE", "socketio_redis_async")
TEST_REQUIREMENTS = ("hypothesis",)  # what tests/unit needs besides the testing extra
WHEELHOUSE = (
    Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    / "socketio-redis-async"
    / "wheelhouse"
)
UNIT_INI = """\
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
addopts = -ra --strict-markers -p no:cacheprovider
filterwarnings = error
"""


@dataclass
class Built:
    sdist: Path
    wheel: Path
    venv_python: Path
    work: Path


def _run(*cmd: str | Path, cwd: Path | None = None, timeout: float = 120) -> str:
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTHONPATH", None)
    done = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=timeout, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    if done.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, cmd))} exited with {done.returncode}:\n"
            f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
        )
    return done.stdout


def _pip_install(python: Path, *requirements: str | Path) -> None:
    """Install from the wheelhouse only; fill it from the index if something is missing."""
    install = (
        sys.executable, "-m", "pip", "--python", python, "install", "-q",
        "--no-index", "--find-links", WHEELHOUSE, "--only-binary", ":all:", *requirements,
    )  # fmt: skip
    try:
        _run(*install)
    except AssertionError:
        WHEELHOUSE.mkdir(parents=True, exist_ok=True)
        _run(
            sys.executable, "-m", "pip", "download", "-q", "--only-binary", ":all:",
            "--dest", WHEELHOUSE, *requirements, timeout=600,
        )  # fmt: skip
        for own in WHEELHOUSE.glob("socketio_redis_async-*"):
            own.unlink()  # the wheel under test always comes from this build
        _run(*install)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    work = tmp_path_factory.mktemp("packaging")
    src = work / "src"
    src.mkdir()
    for name in SDIST_INPUTS:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, src / name)
    dist = work / "dist"
    _run(sys.executable, "-m", "build", "--no-isolation", "--outdir", dist, src)
    venv = work / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv)
    yield Built(
        sdist=next(dist.glob("*.tar.gz")),
        wheel=next(dist.glob("*.whl")),
        venv_python=venv / "bin" / "python",
        work=work,
    )


def test_sdist_and_wheel_carry_the_package(built: Built) -> None:
    version = socketio_redis_async.__version__
    assert built.sdist.name == f"socketio_redis_async-{version}.tar.gz"
    assert built.wheel.name == f"socketio_redis_async-{version}-py3-none-any.whl"
    with tarfile.open(built.sdist) as sdist:
        names = {name.split("/", 1)[1] for name in sdist.getnames() if "/" in name}
    assert {"pyproject.toml", "LICENSE", "socketio_redis_async/py.typed"} <= names
    assert "socketio_redis_async/testing/fixtures.py" in names
    with zipfile.ZipFile(built.wheel) as wheel:
        names = set(wheel.namelist())
        info = f"socketio_redis_async-{version}.dist-info"
        metadata = wheel.read(f"{info}/METADATA").decode()
        entry_points = wheel.read(f"{info}/entry_points.txt").decode()
    assert "socketio_redis_async/py.typed" in names
    assert "socketio_redis_async/testing/__init__.py" in names
    assert f"{info}/licenses/LICENSE" in names
    assert not any(name.startswith("tests/") for name in names)
    assert f"Version: {version}\n" in metadata
    assert "License-Expression: MIT" in metadata
    for classifier in ("Framework :: AsyncIO", "Typing :: Typed", "Framework :: Pytest"):
        assert f"Classifier: {classifier}\n" in metadata
    runtime = [
        line.split(":", 1)[1].strip()
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist:") and "extra ==" not in line
    ]
    assert sorted(r.split(">")[0].split("[")[0] for r in runtime) == [
        "anyio", "msgpack", "python-socketio", "redis",
    ]  # fmt: skip
    assert "[pytest11]\nsocketio_redis_async.testing = socketio_redis_async.testing" in (
        entry_points
    )


def test_wheel_imports_with_runtime_dependencies_only(built: Built) -> None:
    _pip_install(built.venv_python, built.wheel)
    out = _run(
        built.venv_python, "-c",
        "import importlib.util, socketio_redis_async as m\n"
        "from socketio_redis_async import *\n"
        "from socketio_redis_async import AsyncRedisAdapter, AsyncShardedRedisAdapter, Emitter\n"
        "print(m.__file__)\n"
        "print(m.__version__)\n"
        "print(*(importlib.util.find_spec(n) is not None"
        " for n in ('pytest', 'uvicorn', 'hypothesis')))\n",
        cwd=built.work,
    )  # fmt: skip
    location, version, absent = out.splitlines()
    assert Path(location).is_relative_to(built.venv_python.parent.parent)
    assert version == socketio_redis_async.__version__
    assert absent == "False False False"


def test_unit_tests_and_a_user_suite_pass_against_the_installed_wheel(built: Built) -> None:
    # the previous test installed the wheel alone; now its testing extra goes in next to it
    _pip_install(built.venv_python, f"{built.wheel}[testing]", *TEST_REQUIREMENTS)
    location = _run(
        built.venv_python, "-c", "import socketio_redis_async as m; print(m.__file__)",
        cwd=built.work,
    ).strip()  # fmt: skip
    assert Path(location).is_relative_to(built.venv_python.parent.parent)

    unit = built.work / "unit-run"
    shutil.copytree(
        ROOT / "tests" / "unit", unit / "unit", ignore=shutil.ignore_patterns("__pycache__")
    )
    (unit / "pytest.ini").write_text(UNIT_INI)
    out = _run(built.venv_python, "-m", "pytest", "-q", "unit", cwd=unit, timeout=240)
    assert " passed" in out and "failed" not in out and "skipped" not in out, out[-2000:]

    # a user's suite: no ini, no conftest; the plugin comes in through its entry point
    user = built.work / "user-run"
    user.mkdir()
    shutil.copy2(Path(__file__).parent / "user_suite" / "test_plugin_user.py", user)
    out = _run(
        built.venv_python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--fixtures-per-test",
        "test_plugin_user.py", cwd=user,
    )  # fmt: skip
    assert "socketio_redis_async/testing/fixtures.py" in out  # fixtures from the installed wheel
    out = _run(built.venv_python, "-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=user)
    assert "2 passed" in out, out[-2000:]
