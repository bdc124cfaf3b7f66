"""Command-line faces over the compiler: `lt-opt` (run passes on IR text) and `lt-viz` (draw graphs).

Installed as `lazytensor.tools`; they hold no logic the library lacks.
"""

import os
import sys
from typing import Callable


def run_cli(run: Callable[[list[str] | None], int], argv: list[str] | None) -> int:
    """`run(argv)`, except that a reader leaving early (`lt-opt ... | head`) ends the tool quietly,
    as Unix tools do: the Python docs' recipe points stdout at devnull so the exit flush can't fail."""
    try:
        return run(argv)
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
