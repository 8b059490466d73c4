"""Packaging is declared in pyproject.toml; this file only adds the config tree to the wheel.

The Hydra config groups live at the top of the repository (conf/), beside netft/, launch/,
slurm/ and tests/. An installed netft must find them from any working directory, so the wheel
carries them inside the package as netft/conf/ (netft.config.CONF_DIR looks there first). An
editable install reads conf/ from the checkout and needs no copy.
"""
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

CONF = Path(__file__).resolve().parent / "conf"


class BuildPyWithConf(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return
        for src in sorted(CONF.rglob("*.yaml")):
            dest = Path(self.build_lib, "netft", "conf", src.relative_to(CONF))
            self.mkpath(str(dest.parent))
            self.copy_file(str(src), str(dest))


setup(cmdclass={"build_py": BuildPyWithConf})
