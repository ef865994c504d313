"""``fpw processor``: run the reference analysis container, or check any container.

``fpw processor [--port N ...]`` serves (the local stack starts it so);
``fpw processor conformance URL`` checks a running container against the
contract and exits 0 when it conforms, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from pathlib import Path


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "processor",
        help="run the reference analysis container, or check one against the contract",
        description="Serve the reference analysis container (the default), or check any"
        " container with 'fpw processor conformance URL'.",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)"
    )
    parser.add_argument("--port", type=int, default=8080, help="port (default 8080)")
    parser.add_argument("--max-bytes", type=int, default=1 << 30, help="largest file accepted")
    parser.add_argument("--time-limit", type=float, default=120.0, help="seconds per analysis")
    parser.add_argument(
        "--worker-jobs",
        type=int,
        default=50,
        help="analyses a worker process serves (models stay loaded) before it is replaced;"
        " 1 gives every file a fresh process (default 50)",
    )
    parser.add_argument(
        "--max-active",
        type=int,
        default=None,
        help="files received or analysed at once; one more is answered 503 (busy, retry)"
        " (default: twice the number of CPUs, at least 8)",
    )
    parser.add_argument(
        "--worker-memory",
        type=int,
        default=None,
        help="address space of a worker process in bytes (Linux; not with CUDA); a file that"
        " needs more is answered 413; 0 for no limit (default 6 GiB)",
    )
    parser.add_argument(
        "--shared-dir",
        default=os.environ.get("FPW_PROCESSOR_SHARED_DIR"),
        help="volume shared with the fetcher, for files handed over by name (X-Fpw-Path)",
    )
    parser.add_argument(
        "--llm-url",
        help="OpenAI-compatible endpoint for the llm profile (or FPW_PROCESSOR_LLM_URL)",
    )
    parser.add_argument("--llm-model", help="model name (or FPW_PROCESSOR_LLM_MODEL)")
    parser.add_argument(
        "--llm-key-file",
        help="file holding the endpoint's key (or FPW_PROCESSOR_LLM_KEY[_FILE]); never a flag",
    )
    parser.set_defaults(func=run)
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    check = actions.add_parser(
        "conformance",
        help="check a running analysis container against the contract",
        description="Send what a fetcher sends and check each answer against"
        " processor/openapi.yaml. Exit 0 when the container conforms, 1 otherwise.",
    )
    check.add_argument("url", help="the container's base URL, e.g. http://127.0.0.1:8080")
    check.add_argument(
        "--timeout", type=float, default=120.0, help="seconds to wait for each answer"
    )
    check.set_defaults(func=conformance)


def run(args: argparse.Namespace) -> int:
    from processor import ocr
    from processor.llm import LlmConfig
    from processor.server import DEFAULT_MAX_ACTIVE, DEFAULT_WORKER_MEMORY, ProcessorServer

    if (problem := ocr.gpu_problem()) is not None:
        # Refused, not degraded: a GPU task on the CPU is the failure to see.
        print(f"processor: {problem}", file=sys.stderr, flush=True)
        return 1

    llm = LlmConfig.from_env(url=args.llm_url, model=args.llm_model, key_file=args.llm_key_file)
    server = ProcessorServer(
        args.host,
        args.port,
        max_bytes=args.max_bytes,
        time_limit=args.time_limit,
        llm=llm,
        worker_jobs=args.worker_jobs,
        shared_dir=Path(args.shared_dir) if args.shared_dir else None,
        max_active=DEFAULT_MAX_ACTIVE if args.max_active is None else args.max_active,
        worker_memory=DEFAULT_WORKER_MEMORY if args.worker_memory is None else args.worker_memory,
    ).start()
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    print(f"processor listening on http://{args.host}:{server.port}", file=sys.stderr, flush=True)
    if llm is not None:
        print(f"llm profile: model {llm.model} at {llm.endpoint}", file=sys.stderr, flush=True)
    stopped.wait()
    server.shutdown()
    return 0


def conformance(args: argparse.Namespace) -> int:
    from processor.conformance import Conformance, report

    results = Conformance(args.url, timeout=args.timeout).run()
    print(report(results))
    return 0 if all(c.ok for c in results) else 1
