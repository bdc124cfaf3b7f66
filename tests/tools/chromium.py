"""Headless Chromium for the visualizer's page tests: dump a page's DOM after its scripts ran."""
from __future__ import annotations

import re
import shutil
import subprocess
import tempfile

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--enable-logging=stderr", "--v=0"]


def find() -> str | None:
    """The chromium executable, or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def run(url: str, *extra: str, timeout: int = 60) -> tuple[str, str]:
    """(stdout, stderr) of headless chromium on `url` with a fresh profile."""
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run([find(), *FLAGS, f"--user-data-dir={profile}", *extra, url],
                              capture_output=True, text=True, timeout=timeout)
    return proc.stdout, proc.stderr


def console_errors(stderr: str) -> list[str]:
    """Console errors chromium logged for the page (uncaught exceptions, console.error)."""
    return [ln for ln in stderr.splitlines()
            if "CONSOLE" in ln and re.search(r"Uncaught|ERROR:CONSOLE|console.error", ln)]
