"""Where fastnn's compiled kernels are cached on disk, and when a cache is stale.

Numba's default cache checks only the source file of the cached function, so
a kernel that inlines a helper from another module would survive a change to
that helper.  fastnn's locator stamps every cache entry with a hash of all the
modules compiled into kernels, so any edit to them, in a new version or not,
recompiles; and it falls
back from the package's ``__pycache__`` to a per-user directory when the
installation is read-only.  ``NUMBA_CACHE_DIR`` is honoured.
"""

import hashlib
import os
from pathlib import Path

from numba.core import caching, config

PACKAGE_DIR = Path(__file__).resolve().parent
_STAMP = None


#: Modules whose source is compiled into the kernels.
KERNEL_MODULES = ("_cache.py", "_config.py", "_intrinsics.py", "_elementary.py",
                  "_activations.py", "_losses.py", "_optimizers.py", "_kernels.py")


def package_stamp():
    """SHA-256 over the names and contents of the modules compiled into kernels."""
    global _STAMP
    if _STAMP is None:
        digest = hashlib.sha256()
        for path in (PACKAGE_DIR / name for name in KERNEL_MODULES):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
        _STAMP = digest.hexdigest()
    return _STAMP


def user_cache_dir():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "fastnn", package_stamp()[:16])


def candidate_dirs():
    """Cache directories in order of preference."""
    if config.CACHE_DIR:
        yield os.path.join(config.CACHE_DIR, "fastnn")
    yield str(PACKAGE_DIR / "__pycache__")
    yield user_cache_dir()


class FastnnCacheLocator(caching._CacheLocator):
    """Cache locator for functions defined in the fastnn package only."""

    def __init__(self, py_func, cache_path):
        self._lineno = py_func.__code__.co_firstlineno
        self._cache_path = cache_path

    def get_cache_path(self):
        return self._cache_path

    def get_source_stamp(self):
        return package_stamp()

    def get_disambiguator(self):
        return str(self._lineno)

    @classmethod
    def from_function(cls, py_func, py_file):
        if Path(py_file).resolve().parent != PACKAGE_DIR:
            return None
        for path in candidate_dirs():
            locator = cls(py_func, path)
            try:
                locator.ensure_cache_path()
            except OSError:  # not writable: try the next directory
                continue
            return locator
        return None


def register():
    """Put the locator first in Numba's list (idempotent)."""
    impl = getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl")
    if FastnnCacheLocator not in impl._locator_classes:
        impl._locator_classes.insert(0, FastnnCacheLocator)
