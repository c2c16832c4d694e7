"""`python -m node_agent`: run the node agent until SIGTERM or SIGINT.

Exit status: 0 after a clean shutdown, 1 when it cannot start (listen address taken, models
directory unusable), 2 for a configuration error. Every failure is one log line saying what and
where, not a traceback.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from collections.abc import Sequence

from node_agent.agent import Agent
from node_agent.config import ConfigError, parse_config
from node_agent.logs import configure_file_logging

log = logging.getLogger("node_agent")


def _log_thread_crash(args: threading.ExceptHookArgs) -> None:
    """A thread that dies must say so in the log (the default prints to stderr without a timestamp)."""
    name = args.thread.name if args.thread else "?"
    log.error("thread %s crashed", name, exc_info=(args.exc_type, args.exc_value, args.exc_traceback))


def main(argv: Sequence[str] | None = None) -> int:
    try:
        config = parse_config(argv)
    except ConfigError as exc:
        print(f"llm-router node agent: configuration error: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(level=config.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        configure_file_logging(config.log_dir, config.log_file_bytes, config.log_file_count)
    except OSError as exc:
        log.error("cannot start: the log folder %s is unusable (%s); check --log-dir / LLM_NODE_LOG_DIR",
                  config.log_dir, exc.strerror or exc)
        return 1
    logging.getLogger("urllib3").setLevel(logging.WARNING)  # connection pool chatter, even at DEBUG
    threading.excepthook = _log_thread_crash

    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        if not stop.is_set():
            log.info("received %s; shutting down", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)

    agent = Agent(config)
    try:
        agent.start()
    except OSError as exc:
        where = f"{config.listen_host}:{config.listen_port}" if agent.server is None and exc.filename is None \
            else (exc.filename or config.models_dir)
        log.error("cannot start: %s (%s); check --listen / LLM_NODE_LISTEN and --models-dir / LLM_NODE_MODELS_DIR",
                  exc.strerror or exc, where)
        agent.stop(timeout=1.0)
        return 1
    try:
        while not stop.wait(1.0):
            pass
    finally:
        agent.stop()
        log.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
