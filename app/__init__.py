"""The desktop app (PySide6): the only package that imports Qt.

It owns threads and widgets and nothing else; what it decides lives in
:mod:`app.state` (Qt-free: this file imports nothing, so ``import app.state`` loads no
Qt) and what it does is ``engine.library``. The GUI thread never calls
the engine: :mod:`app.tasks` runs every call on a worker and brings the answer back.
"""
