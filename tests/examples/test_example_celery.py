"""The Celery example: a socket event handler in examples/celery_web.py calls
``notify.delay()``, a real Celery worker (Redis as broker) runs the task, and the task's
``Emitter`` reaches the Socket.IO client."""

from __future__ import annotations

import signal

from support.example_procs import EXAMPLES, PYTHON, Start
from support.redis_procs import free_port


async def test_task_called_from_the_app_emits_from_the_worker(start: Start, connect) -> None:
    worker = start(PYTHON, "-m", "celery", "--workdir", "examples", "-A", "celery_tasks",
                   "worker", "--concurrency", "1", "--loglevel", "INFO")  # fmt: skip
    port = free_port()
    web = start(PYTHON, str(EXAMPLES / "celery_web.py"), "--port", str(port))
    await web.wait_port(port)
    await worker.wait_output(" ready.")

    browser = await connect(f"http://127.0.0.1:{port}")
    outsider = await connect(f"http://127.0.0.1:{port}")
    web_pid = (await browser.call("whoami"))["pid"]
    assert web_pid == web.pid
    await browser.call("join", "orders")
    task_id = await browser.call("order", {"room": "orders", "text": "order 42 shipped"})

    message = await browser.next_said()
    assert (message["text"], message["server"]) == ("ORDER 42 SHIPPED", "celery")
    assert message["pid"] not in (web_pid, worker.pid)  # a process of the worker's pool
    assert task_id in worker.output()  # "Task celery_tasks.notify[<id>] received"
    assert await outsider.nothing_said()
    assert await worker.stop(signal.SIGTERM, timeout=10) == 0  # warm shutdown
