"""What ``scripts/demo`` runs: serve the demo CRM (demo_site.py) on 127.0.0.1, make
sure that port answers as the demo CRM, then run the example batch against it with
this interpreter's batchwright. Extra arguments go to ``batchwright run``.

The port is any free one unless ``PORT`` names one: a program already listening on a
usual port can then never receive the batch. A ``PORT`` that is taken stops the demo
with a message, before anything runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from demo_site import DemoServer, is_demo_site, port_taken

REPO = Path(__file__).resolve().parent.parent


def serve(port: int) -> DemoServer:
    try:
        return DemoServer(port)
    except OSError as error:
        if not port_taken(error):
            raise
        sys.exit(
            f"demo: port {port} is taken by another program; "
            "choose another with PORT=N, or leave PORT unset for any free port"
        )


def run_batch(url: str, args: list[str]) -> int:
    """``batchwright run`` of the example; its exit code. Ctrl-C reaches batchwright
    too (same terminal): it winds down, and this waits for its summary."""
    command = [
        sys.executable, "-m", "batch", "run", "examples/customers.csv",
        "--flow", "examples/add_customer.yaml", "--base-url", url, *args,
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=REPO)
    while True:
        try:
            return process.wait()
        except KeyboardInterrupt:
            continue


def main(args: list[str]) -> int:
    port = os.environ.get("PORT") or "0"
    if not port.isdigit():
        sys.exit(f"demo: PORT={port!r} is not a port number")
    server = serve(int(port))
    server.start_in_thread()
    try:
        if not is_demo_site(server.url):
            print(f"demo: {server.url} does not answer as the demo CRM", file=sys.stderr)
            return 1
        print(f"demo site on {server.url}", flush=True)
        return run_batch(server.url, args)
    finally:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
