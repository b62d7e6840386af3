"""`python -m sparselab_torch.engine.launch -- COMMAND...`: runs COMMAND (torchrun) in this process after asking
to receive SIGKILL when the app that started it exits, however it exits; each rank dies with torchrun in turn
(engine/__main__.py). Not SIGTERM: torchrun's graceful shutdown could hang once the app's end of its output
pipe was gone, and was seen to outlive the app. Cancel still stops a run gracefully, from the app.
An argument "{free-port}" becomes a TCP port free on this machine (the single node's rendezvous)."""
import os
import signal
import socket
import sys

from .parent import die_with_parent

FREE_PORT = "{free-port}"


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv):
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        sys.exit("usage: python -m sparselab_torch.engine.launch -- COMMAND [ARGS...]")
    if FREE_PORT in argv:
        port = str(free_port())
        argv = [port if a == FREE_PORT else a for a in argv]
    die_with_parent(signal.SIGKILL)
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    main(sys.argv[1:])
