"""Run ``airflow`` CLI commands one after another in one warm Python process.

Every ``airflow`` process pays for importing Airflow, parsing the DAG folder and, for
``dags test``, starting the in-process execution API before it does any work: about 10-15 s on
a 2-core machine, more than a small academy's whole sync. ``AirflowCli`` starts one process
(``python -m trustdata.airflow_batch``) with a fixed environment and sends it commands over
its stdin; each runs through Airflow's own CLI entry point (``airflow.__main__.main``) as
``airflow ARGS`` would, its stdout and stderr going to a log file of its own, and its exit code
comes back. Later commands reuse what the first one imported and started.

Like ``trustdata.airflow_env``, this module does not import Airflow: the process runs Airflow's
command-line program as ``python -m airflow`` would (``runpy``), once per command.

The environment is the process's: a command that needs other settings (another trust config,
another executor) needs another ``AirflowCli``. Long-running commands (``api-server``,
``scheduler``) belong in processes of their own.
"""

from __future__ import annotations

import json
import os
import queue
import runpy
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from types import TracebackType


class AirflowCliError(RuntimeError):
    """The warm Airflow process died or did not answer in time."""


class AirflowCli:
    """A warm Airflow process that runs ``airflow`` CLI commands in turn."""

    def __init__(self, env: Mapping[str, str], *, cwd: Path | None = None) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "trustdata.airflow_batch"],
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._answers: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            self._answers.put(line)
        self._answers.put(None)

    def run(self, args: Sequence[str], log: Path, *, timeout: float = 600) -> int:
        """Run ``airflow ARGS``, its output appended to ``log``; return its exit code."""
        if self._process.poll() is not None:
            raise AirflowCliError(f"the Airflow process exited ({self._process.returncode})")
        assert self._process.stdin is not None
        request = {"args": list(args), "log": str(log)}
        self._process.stdin.write(json.dumps(request) + "\n")
        self._process.stdin.flush()
        try:
            answer = self._answers.get(timeout=timeout)
        except queue.Empty:
            self.close()
            raise AirflowCliError(
                f"airflow {' '.join(args)}: no answer in {timeout:.0f}s"
            ) from None
        if answer is None:
            code = self._process.wait()
            raise AirflowCliError(f"airflow {' '.join(args)}: the process exited ({code})")
        return int(json.loads(answer)["code"])

    def close(self) -> None:
        """End the process: at once when it is idle, killed if it does not end in 20 s."""
        if self._process.stdin is not None and not self._process.stdin.closed:
            with suppress(BrokenPipeError):
                self._process.stdin.close()
        try:
            self._process.wait(20)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    def __enter__(self) -> AirflowCli:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()


@contextmanager
def _output_to(log: Path) -> Iterator[None]:
    """Send this process's stdout and stderr (file descriptors 1 and 2) to ``log``."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as handle:
        os.dup2(handle.fileno(), 1)
        os.dup2(handle.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def _run_one(args: list[str], log: Path) -> int:
    """``airflow ARGS`` through Airflow's CLI entry point; its exit code as a process's."""
    sys.argv = ["airflow", *args]
    with _output_to(log):
        try:
            runpy.run_module("airflow", run_name="__main__")
        except SystemExit as done:
            if done.code is None or isinstance(done.code, int):
                return done.code or 0
            print(done.code, file=sys.stderr)
            return 1
        except Exception:
            traceback.print_exc()
            return 1
    return 0


def main() -> int:
    """Serve requests from stdin, one JSON object a line; answer each on stdout."""
    answers = os.fdopen(os.dup(1), "w", buffering=1)
    # Whatever is printed between commands goes to stderr, never into the answers.
    os.dup2(2, 1)
    # Airflow's CLI module run as a module rather than as __main__: it imports Airflow and its
    # CLI parser (seconds) while the caller prepares the first command.
    runpy.run_module("airflow", run_name="airflow_batch_warm_up")
    for line in sys.stdin:
        request = json.loads(line)
        started = time.monotonic()
        code = _run_one(list(request["args"]), Path(request["log"]))
        answers.write(json.dumps({"code": code, "seconds": time.monotonic() - started}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
