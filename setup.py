"""Build hook: ship the top-level pipelines/ and retention_rules/ inside the wheel.

The folders stay at the top of the repository (where operators and records managers
expect them, see DESIGN.md), and `s4 init` copies them into a new home. An installed
wheel has no checkout, so the build copies them into ``s4/_shipped/``.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

SHIPPED = ("pipelines", "retention_rules")


class BuildWithShippedConfig(build_py):
    def run(self) -> None:
        super().run()
        root = Path(__file__).parent
        for name in SHIPPED:
            target = Path(self.build_lib) / "s4" / "_shipped" / name
            target.mkdir(parents=True, exist_ok=True)
            for source in sorted((root / name).glob("*.yaml")):
                shutil.copy2(source, target / source.name)


setup(cmdclass={"build_py": BuildWithShippedConfig})
