"""carescale: a microsimulation of health-care demand under personalised care.

The import package is ``model``; the distribution and command are ``carescale``.
Core modules never import plotting or the command-line interface.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("carescale")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
