"""The web server (daphne) for benchmarks that count its own Kubernetes API requests: on
SIGUSR1 it writes sandbox.k8s.request_count() to $BENCH_REQUEST_COUNT_FILE. On a cluster that
others use too, the API server's own counter cannot tell this web server's requests apart.

    python -m tests.bench.counted_web -b 127.0.0.1 -p PORT config.asgi:application
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from types import FrameType


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from daphne.cli import CommandLineInterface

    from sandbox import k8s

    target = Path(os.environ["BENCH_REQUEST_COUNT_FILE"])

    def write_count(signum: int, frame: FrameType | None) -> None:
        target.write_text(str(k8s.request_count()))

    signal.signal(signal.SIGUSR1, write_count)
    CommandLineInterface().run(sys.argv[1:])


if __name__ == "__main__":
    main()
