"""Command-line faces over the compiler: `lt-opt` (run passes on IR text) and `lt-viz` (draw graphs).

Installed as `lazytensor.tools`; they hold no logic the library lacks.
"""
