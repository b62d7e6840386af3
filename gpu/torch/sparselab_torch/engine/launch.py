"""`python -m sparselab_torch.engine.launch -- COMMAND...`: runs COMMAND (torchrun) in this process after asking
to receive SIGTERM when the app that started it exits, however it exits. torchrun then stops its ranks."""
import os
import signal
import sys

from .parent import die_with_parent


def main(argv):
    if argv[:1] == ["--"]:
        argv = argv[1:]
    if not argv:
        sys.exit("usage: python -m sparselab_torch.engine.launch -- COMMAND [ARGS...]")
    die_with_parent(signal.SIGTERM)
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    main(sys.argv[1:])
