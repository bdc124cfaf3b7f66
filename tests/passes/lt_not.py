"""`not <cmd>` of RUN lines: exit 0 when <cmd> exits with an error status, 1 when it succeeds or
dies of a signal. Its output streams pass through untouched (so `2>&1` keeps their order); a test
that must not show a Python traceback says `CHECK-NOT: Traceback`."""
import subprocess
import sys

if __name__ == "__main__":
    code = subprocess.call(sys.argv[1:])
    sys.exit(0 if code > 0 else 1)
