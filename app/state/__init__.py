"""What the desktop app decides, without Qt: tested with no screen (``tests/app/state``).

Nothing here imports PySide6 (``tests/app/state/test_qt_free.py`` checks), and no
``engine`` module imports this package: it sits beside the widgets, under the engine.

- :mod:`.query`: the search modes, what a query will run (or why it cannot), request ids.
- :mod:`.votes`: which tiles carry a vote, toggling, and the session's undo stack.
- :mod:`.thumbqueue`: an LRU and a bounded, last-in-first-out queue of thumbnail requests.
- :mod:`.progress`: indexing progress as words (rate, time left) and a throttle.
- :mod:`.grid`: where the steep-drop divider runs through a wrapped grid of tiles.
- :mod:`.gate`: a shared/exclusive lock around the library (a model swap waits for calls).
- :mod:`.settings`: the app's preferences as a frozen value, read from any mapping.
- :mod:`.places`: where the demo library and its photos live; which model a library opens with.
- :mod:`.preview`: small upright previews of a reference photo.
- :mod:`.learn`: "Learn from my votes": can it run, vote and pair counts, the trainer's
  command line, the flow (running, a new model waiting, a swap).
- :mod:`.learn_report`: the trainer's progress lines and report, in words; the plot's geometry.
- :mod:`.get_model`: "Get the QuRe model": where the checkpoint comes from, the converter's
  command line and progress lines, why a run failed (files to fetch by hand, no trainer), the flow.
- :mod:`.browse`: the library as a place: orders, the folder and date filter and its words,
  folder choices, pages that grow, thumbnail sizes.
- :mod:`.viewer`: the photo viewer: zoom stops, fitting, moving through the grid, the facts shown.

The rest of ``app/`` owns threads and widgets and calls only these and ``engine.library``.
"""
