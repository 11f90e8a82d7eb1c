"""The one build step pyproject.toml cannot declare: the shipped demo model goes into the wheel.

The repository keeps shipped resources at the top, in ``resources/`` (``tools/demo_model``
rebuilds ``resources/demo-bundle`` there). A wheel carries them as package data of the
engine, ``engine/_resources/`` (the demo bundle at ``engine/_resources/demo-bundle``),
where ``engine.resources.resource_dirs`` looks first. An editable install copies nothing:
its engine is the source tree's, and the lookup finds ``resources/`` beside it. MANIFEST.in
puts ``resources/`` into the sdist, so a wheel built from the sdist has it too.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

RESOURCES = Path("resources")  # setuptools runs this file from the project root
IN_PACKAGE = Path("engine", "_resources")


class BuildPyWithResources(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return
        for src in sorted(p for p in RESOURCES.rglob("*") if p.is_file()):
            dst = Path(self.build_lib, IN_PACKAGE, src.relative_to(RESOURCES))
            self.mkpath(str(dst.parent))
            self.copy_file(str(src), str(dst))


setup(cmdclass={"build_py": BuildPyWithResources})
