"""Copies the package data whose home is outside the package into the built package.

The bundled Iris CSV lives in datastore/raw/ and the browser runtime's page, driver and
npm lock file in web/ (where `make demo` and the tests use them from the checkout). A wheel
needs them inside the package: they go to irisonnx/_assets/ in the build folder only, never
into the source tree; irisonnx.assets looks there first and beside the source tree second.
Editable installs need no copy (they run from the checkout).
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
# destination under irisonnx/_assets/ -> source in the checkout
ASSETS = {
    "iris.csv": "datastore/raw/iris.csv",
    "web/driver.mjs": "web/driver.mjs",
    "web/runner.html": "web/runner.html",
    "web/package.json": "web/package.json",
    "web/package-lock.json": "web/package-lock.json",
    **{f"web/bundle/{p.name}": f"web/bundle/{p.name}" for p in sorted((ROOT / "web" / "bundle").glob("*")) if p.is_file()},
}


class BuildPyWithAssets(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        dest = Path(self.build_lib) / "irisonnx" / "_assets"
        for rel, src in ASSETS.items():
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            self.copy_file(str(ROOT / src), str(target))


setup(cmdclass={"build_py": BuildPyWithAssets})
