"""`python -m infoflow COMMAND ...`: the infoflow command line from the Python package.

The commands are the C++ ones (cli::run, bound in python/cli_entry.cpp), so flags, output,
JSON and exit codes are those of the CMake-built `infoflow` binary. The `infoflow` console
script of a pip install calls main() too. MPI is not built into the package: `mpirun`
needs the binary.
"""
import os
import signal
import sys
from typing import List, Optional

from . import _infoflow


def main(argv: Optional[List[str]] = None, prog: Optional[str] = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if prog is None:  # the console script: its own name, as the binary shows argv[0]
        prog = os.path.basename(sys.argv[0]) or "infoflow"
    # `plot` runs plot_run.py with an interpreter: the script shipped beside this file and
    # this interpreter (the binary's defaults, the source tree and /usr/bin/python3, need
    # not exist where the package was installed). The user's settings stand.
    here = os.path.dirname(os.path.abspath(__file__))
    os.environ.setdefault("INFOFLOW_PLOT_SCRIPT", os.path.join(here, "plot_run.py"))
    os.environ.setdefault("INFOFLOW_PYTHON", sys.executable)
    # As the binary: Ctrl-C ends a computation at once (Python's handler would only run
    # after the C++ call returned; `train` installs its own), and a closed pipe ends the
    # process instead of raising BrokenPipeError at exit.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.stdout.flush()  # the command writes to file descriptor 1 directly
    sys.stderr.flush()
    return _infoflow._cli_main([prog, *args])


if __name__ == "__main__":
    sys.exit(main(prog="python -m infoflow"))
