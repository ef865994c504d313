"""The reference processor's HTTP server (contract: ``processor/openapi.yaml``).

Each analysis runs in a worker process with a time limit and, on Linux, a
memory limit: a file that makes a decoder loop, explode or crash costs that
worker, never the server, which answers 504 (over time), 413 (over memory) or
500 (crashed), replaces the worker and stays healthy. Bodies stream to a
temporary file; nothing holds a whole upload in memory. At most ``max_active``
requests upload or analyse at once; one more is answered 503 with Retry-After
at once (its body unread), which fetchers take as "busy, ask again later".
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing
import multiprocessing.connection
import os
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from processor import __version__, ocr, progress
from processor.analysis import PROFILES, analyze, catalog, check_params
from processor.errors import AnalysisError, TimedOut
from processor.llm import LlmConfig

log = logging.getLogger("processor")

DEFAULT_MAX_BYTES = 1 << 30
DEFAULT_TIME_LIMIT = 120.0
DEFAULT_WORKER_JOBS = 50
"""Analyses a worker process serves before it is replaced (1: a new process per file)."""
IDLE_WORKERS = 2
"""Warm workers kept waiting between files."""
DEFAULT_MAX_ACTIVE = max(8, 2 * (os.cpu_count() or 1))
"""Requests uploading or being analysed at once; more are answered 503."""
DEFAULT_WORKER_MEMORY = 6 << 30
"""Address space of a worker process (RLIMIT_AS); 0 leaves it unlimited. Not applied
to a worker that uses CUDA, whose driver reserves far more address space than it uses."""
RETRY_AFTER_SECONDS = 5
_COPY = 1 << 20
NOT_FOUND = (
    "not found; the endpoints are POST /analyze, GET /health, GET /profiles and GET /progress/{job}"
)
SOCKET_TIMEOUT = 300.0
"""Seconds a connection may send nothing (mid-upload or between requests)."""


def _limit_memory(limit: int) -> None:
    """Cap this process's address space, where the platform allows and CUDA is not used."""
    if limit <= 0 or not sys.platform.startswith("linux") or ocr.uses_cuda():
        return
    import resource

    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _work(
    conn: multiprocessing.connection.Connection,
    llm: LlmConfig | None,
    warm: bool,
    memory: int = 0,
) -> None:
    """A worker process: analyses one file at a time until its pipe closes."""
    _limit_memory(memory)
    if warm:
        ocr.warm_up()  # a file sent meanwhile waits in the pipe
    progress.install(lambda percent: conn.send(("progress", percent)))
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        path, ctype, params, job = task
        try:
            conn.send(("ok", analyze(Path(path), ctype, params, job, llm=llm)))
        except AnalysisError as exc:
            conn.send(("error", (exc.status, exc.message)))
        except MemoryError:
            message = "the analysis needed more memory than a worker may use (--worker-memory)"
            conn.send(("error", (413, message)))
        except RecursionError:
            conn.send(("error", (400, "the file is nested too deeply to analyse")))
        except Exception as exc:  # an analysis bug: report it rather than vanish
            message = f"analysis failed unexpectedly: {type(exc).__name__}: {exc}"
            conn.send(("error", (500, message)))


def _context() -> Any:
    if sys.platform.startswith("linux"):
        ctx = multiprocessing.get_context("forkserver")
        # Imported once in the fork server, so each worker starts warm; the OCR
        # engine itself is created in the worker (its thread pools do not survive fork).
        ctx.set_forkserver_preload(
            ["processor.analysis", "PIL.Image", "pypdf", "pypdfium2", "numpy", "rapidocr"]
        )
        return ctx
    return multiprocessing.get_context("spawn")


class AnalysisProcess:
    """One analysis process and the pipe to it."""

    def __init__(
        self, ctx: Any, llm: LlmConfig | None, warm: bool = False, memory: int = 0
    ) -> None:
        self.conn, child = ctx.Pipe(duplex=True)
        self.process = ctx.Process(target=_work, args=(child, llm, warm, memory), daemon=True)
        self.process.start()
        child.close()
        self.jobs = 0

    def stop(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.conn.close()


class Analyzer:
    """Runs analyses in worker processes, each under the time limit.

    A worker is reused for up to ``worker_jobs`` analyses, so that the OCR
    models it loaded (a second or two on a CPU, more on a GPU) serve many
    files; ``worker_jobs=1`` gives every file a fresh process. A worker that
    runs over the limit is killed, and one that dies is replaced: either way
    the next file gets a clean process. One worker starts with the server and
    one replaces each worker retired after its ``worker_jobs``, both loading
    and running the OCR models before any file arrives, so no file pays for
    the models (or CUDA's start-up) but the first after a crash.
    """

    def __init__(
        self,
        time_limit: float,
        llm: LlmConfig | None = None,
        worker_jobs: int = DEFAULT_WORKER_JOBS,
        memory: int = DEFAULT_WORKER_MEMORY,
    ) -> None:
        self.time_limit = time_limit
        self.llm = llm
        self.memory = memory
        self.worker_jobs = max(1, worker_jobs)
        self.ctx = _context()
        self.busy = 0
        self.progress: dict[str, int] = {}
        """Jobs in flight and how far each has come (0..100)."""
        self._idle: list[AnalysisProcess] = [self._worker(warm=True)]
        self._lock = threading.Lock()

    def _worker(self, warm: bool = False) -> AnalysisProcess:
        return AnalysisProcess(self.ctx, self.llm, warm, self.memory)

    def _take(self) -> AnalysisProcess:
        with self._lock:
            self.busy += 1
            while self._idle:
                worker = self._idle.pop()
                if worker.process.is_alive():
                    return worker
                worker.stop()
        return self._worker()

    def _put_back(self, worker: AnalysisProcess, healthy: bool) -> None:
        with self._lock:
            self.busy -= 1
            keep = healthy and worker.jobs < self.worker_jobs and len(self._idle) < IDLE_WORKERS
            if keep:
                self._idle.append(worker)
            elif healthy and len(self._idle) < IDLE_WORKERS:
                self._idle.append(self._worker(warm=True))
        if not keep:
            worker.stop()

    def run(self, path: Path, ctype: str, params: dict[str, Any], job: str) -> dict[str, Any]:
        worker = self._take()
        healthy = False
        deadline = time.monotonic() + self.time_limit
        self.progress[job] = 0
        try:
            worker.jobs += 1
            worker.conn.send((str(path), ctype, params, job))
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not worker.conn.poll(left):
                    raise TimedOut(
                        f"the analysis took longer than its limit of {self.time_limit:.0f} s"
                    )
                try:
                    kind, value = worker.conn.recv()
                except (EOFError, OSError):
                    worker.process.join(1)
                    raise AnalysisError(
                        f"the analysis process died (exit code {worker.process.exitcode})", 500
                    ) from None
                if kind != "progress":
                    break
                self.progress[job] = int(value)
            healthy = True
            if kind == "error":
                status, message = value
                raise AnalysisError(message, status)
            return dict(value)
        finally:
            self.progress.pop(job, None)
            self._put_back(worker, healthy)

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.stop()


def parse_params(raw: str | None) -> dict[str, Any]:
    """The job's params from their header; anything but a JSON object is a 422."""
    if not raw:
        return {}
    try:
        params = json.loads(raw)
    except (ValueError, RecursionError):
        raise AnalysisError("X-Fpw-Params is not valid JSON", 422) from None
    if not isinstance(params, dict):
        raise AnalysisError("X-Fpw-Params must be a JSON object", 422)
    return params


class Handler(BaseHTTPRequestHandler):
    server: ProcessorServer
    protocol_version = "HTTP/1.1"
    timeout = SOCKET_TIMEOUT  # a stalled upload or idle connection frees its thread

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # one structured line per request instead (see _log)

    def _json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(data, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _log(self, **fields: Any) -> None:
        entry = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "level": "INFO",
            "event": "analyze",
            **fields,
        }
        print(json.dumps(entry), file=sys.stderr, flush=True)

    def do_GET(self) -> None:
        route = self.path.split("?")[0]
        analyzer = self.server.analyzer
        if route.startswith("/progress/"):
            job = route.removeprefix("/progress/")
            done = analyzer.progress.get(job)
            if done is None:
                self._json(404, {"error": f"no analysis of {job[:64]!r} is in progress"})
            else:
                self._json(200, {"job": job, "progress": done})
        elif route == "/profiles":
            self._json(200, catalog(llm=analyzer.llm is not None))
        elif route == "/health":
            profiles = [p for p in PROFILES if p != "llm" or analyzer.llm is not None]
            health = {
                "status": "ok",
                "version": __version__,
                "busy": analyzer.busy,
                "capacity": self.server.max_active,
                "profiles": profiles,
                "ocr_provider": self.server.ocr_provider,
            }
            self._json(200, health)
        else:
            self._json(404, {"error": NOT_FOUND})

    def do_POST(self) -> None:
        started = time.monotonic()
        job = self.headers.get("X-Fpw-Job", "")
        status, kind, size = 500, None, 0
        received = False
        slot = False
        headers: dict[str, str] = {}
        try:
            if self.path.split("?")[0] != "/analyze":
                raise AnalysisError(NOT_FOUND, 404)
            slot = self.server.slots.acquire(blocking=False)
            if not slot:
                headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
                raise AnalysisError(
                    f"the processor is busy: {self.server.max_active} files are being received"
                    " or analysed; try again later",
                    503,
                )
            params = parse_params(self.headers.get("X-Fpw-Params"))
            check_params(params)  # before the upload: a bad profile need not cost a transfer
            length = self.headers.get("Content-Length")
            if length is None:
                raise AnalysisError("send the file with a Content-Length", 411)
            try:
                size = int(length)
            except ValueError:
                size = -1
            if size < 0:
                raise AnalysisError("Content-Length is not a byte count", 400)
            self._check_size(size)
            ctype = self.headers.get("Content-Type", "application/octet-stream")
            named = self.headers.get("X-Fpw-Path")
            if named is not None:
                self._receive(None, size)  # the body is empty, or ignored
                received = True
                path = self._shared(named)
                size = self._check_size(path.stat().st_size)
                result = self.server.analyzer.run(path, ctype, params, job)
            else:
                with tempfile.TemporaryDirectory(prefix="fpw-processor-") as tmp:
                    path = Path(tmp) / "input"
                    self._receive(path, size)
                    received = True
                    result = self.server.analyzer.run(path, ctype, params, job)
            kind = result.get("kind")
            status = 200
            self._json(200, result)
        except AnalysisError as exc:
            status = exc.status
            if not received:
                # The body (or what is left of it) is still unread: the next
                # request on this connection would start inside it.
                self.close_connection = True
            self._json(status, {"error": exc.message}, headers)
        except (ConnectionError, TimeoutError):
            status = 499
            self.close_connection = True
        finally:
            if slot:
                self.server.slots.release()
            self._log(
                job=job,
                status=status,
                kind=kind,
                bytes=size,
                duration_ms=round((time.monotonic() - started) * 1000),
            )

    def _receive(self, path: Path | None, size: int) -> None:
        """The body into ``path``, or read and dropped when ``path`` is None."""
        left = size
        with path.open("wb") if path is not None else contextlib.nullcontext() as out:
            while left > 0:
                block = self.rfile.read(min(_COPY, left))
                if not block:
                    raise AnalysisError("the upload ended before Content-Length bytes arrived", 400)
                if out is not None:
                    out.write(block)
                left -= len(block)

    def _shared(self, name: str) -> Path:
        """The file named by ``X-Fpw-Path`` on the volume shared with the fetcher."""
        folder = self.server.shared_dir
        if folder is None:
            # The deployment's fault, not the file's: retryable once it is fixed.
            raise AnalysisError(
                "this processor has no shared volume (start it with --shared-dir);"
                " send the file in the body instead",
                503,
            )
        if not name or name != Path(name).name or name.startswith("."):
            raise AnalysisError("X-Fpw-Path must be a plain file name on the shared volume", 400)
        path = folder / name
        if path.resolve().parent != folder:
            raise AnalysisError("X-Fpw-Path must name a file on the shared volume itself", 400)
        if not path.is_file():
            raise AnalysisError(f"the shared volume has no file {name!r}", 503)
        return path

    def _check_size(self, size: int) -> int:
        """``size``, unless the file is larger than this processor accepts (413)."""
        if size > self.server.max_bytes:
            raise AnalysisError(
                f"the file has {size} bytes; this processor accepts at most"
                f" {self.server.max_bytes}",
                413,
            )
        return size


class HangUpServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A caller that hung up (a health probe that gave up, a fetcher that was
        stopped or did not read an answer it had no use for) is not a failure of
        ours: no traceback for it."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            log.debug("%s hung up before the answer", client_address)
            return
        super().handle_error(request, client_address)


class ProcessorServer(HangUpServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        time_limit: float = DEFAULT_TIME_LIMIT,
        llm: LlmConfig | None = None,
        worker_jobs: int = DEFAULT_WORKER_JOBS,
        shared_dir: Path | None = None,
        max_active: int = DEFAULT_MAX_ACTIVE,
        worker_memory: int = DEFAULT_WORKER_MEMORY,
    ) -> None:
        super().__init__((host, port), Handler)
        self.max_bytes = max_bytes
        self.max_active = max(1, max_active)
        self.slots = threading.BoundedSemaphore(self.max_active)
        self.shared_dir = shared_dir.resolve() if shared_dir is not None else None
        self.analyzer = Analyzer(time_limit, llm, worker_jobs, memory=worker_memory)
        # Reported by GET /health: which ONNX Runtime provider OCR runs on.
        self.ocr_provider = ocr.provider()

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def start(self) -> ProcessorServer:
        """Serve in a background thread; ``shutdown()`` stops it and its workers."""
        threading.Thread(target=self.serve_forever, name="processor", daemon=True).start()
        return self

    def shutdown(self) -> None:
        super().shutdown()
        self.analyzer.close()
        self.server_close()
