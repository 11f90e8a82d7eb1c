"""Entry script for the frozen app: PyInstaller runs its script as ``__main__``, where
``app/main.py``'s package-relative imports cannot work, so it imports the package."""

import sys

from app.main import main

if __name__ == "__main__":
    sys.exit(main())
