"""Which packages the wheel holds (the rest of the metadata is in pyproject.toml).

The wheel is the whole product: the library (every package under ``lib/``, found, so a new subpackage is
never left out), the service (top-level package ``serve`` with its placeholder web page) and, as package
data under ``kaizenlap/resources/``, ``params/`` and the engine notebooks, which a checkout reads at the
repository root (:func:`kaizenlap.core.params.params_dir` finds either); and the report template
(``kaizenlap/pipeline/templates/``, the nbconvert template of the HTML reports). ``pip install -e .`` maps the same
packages onto the checkout.
"""
from setuptools import find_packages, setup

RESOURCES = {"kaizenlap.resources.params": "params", "kaizenlap.resources.params.tracks": "params/tracks",
             "kaizenlap.resources.notebooks": "notebooks"}

setup(
    packages=[*find_packages("lib"), "serve", "serve.routes", *RESOURCES],
    package_dir={"": "lib", "serve": "serve", **RESOURCES},
    package_data={"serve": ["web/*", "web/**/*"], "kaizenlap.pipeline": ["templates/*/*"],
                  "kaizenlap.resources.params": ["*.yaml"],
                  "kaizenlap.resources.params.tracks": ["*.yaml"], "kaizenlap.resources.notebooks": ["*.ipynb"]},
    include_package_data=False,
)
