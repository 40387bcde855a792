"""Where fastnn's compiled kernels are cached on disk, and how processes share the cache.

The cache lives outside the installed package, in a per-user directory:

1. ``$FASTNN_CACHE_DIR``, if set;
2. else ``$NUMBA_CACHE_DIR/fastnn``, if ``NUMBA_CACHE_DIR`` is set;
3. else the platform's user cache directory: ``$XDG_CACHE_HOME/fastnn``
   (default ``~/.cache/fastnn``) on Linux and other Unix systems,
   ``~/Library/Caches/fastnn`` on macOS, ``%LOCALAPPDATA%\\fastnn\\Cache``
   on Windows.

Inside it every kernel build has its own subdirectory, named by a key: a
hash of the sources of every module compiled into kernels, the Python,
NumPy, Numba and llvmlite versions, the CPU Numba compiles for (name and
features) and the Numba settings that change the generated code (bounds
checking, optimisation level, debug information).  Reinstalling the same
code finds the same directory; a code change, a new Numba or another CPU
gets a new one and can never load a stale kernel.

Numba's own cache checks only the modification time of the file defining a
function, which misses changes to the helpers it inlines from other modules
and is lost with the file on every reinstall; fastnn's locator (registered
first in Numba's list) replaces it for the package's functions.

Processes sharing the cache (a grid search's workers on a cold cache, the
workers of ``fastnn.compile_kernels``) compile through ``LockingDispatcher``:
a process holds an advisory lock on a kernel variant (function and
signature) from the moment it looks it up in the cache until it has written
what it compiled.  A second process wanting the same variant waits, then
loads it from the cache instead of compiling it again; and no two processes
rewrite one function's index at a time (which could drop an entry, or leave
an index naming another process's code).  Locks are released by the
operating system if a process dies.
"""

import contextlib
import hashlib
import os
import sys
import tempfile
from pathlib import Path

import llvmlite
import numba
import numpy as np
from numba.core import caching, config
from numba.core.compiler_lock import global_compiler_lock
from numba.core.registry import CPUDispatcher, cpu_target
from numba.core.runtime import rtsys

PACKAGE_DIR = Path(__file__).resolve().parent

#: Modules whose source is compiled into kernels: every module defining a
#: jitted function or something a jitted function uses (a test checks that
#: each module with a Numba dispatcher is listed).
KERNEL_MODULES = ("_cache.py", "_config.py", "_intrinsics.py", "_elementary.py",
                  "_activations.py", "_losses.py", "_noise.py", "_schedules.py",
                  "_optimizers.py", "_embeddings.py", "_ensemble.py", "_kernels.py",
                  "_shuffle.py", "_packed.py", "_amx.py")


def source_digest(package_dir=PACKAGE_DIR):
    """SHA-256 over the names and contents of the modules compiled into kernels."""
    digest = hashlib.sha256()
    for name in KERNEL_MODULES:
        digest.update(name.encode())
        digest.update(b"\0")
        digest.update((Path(package_dir) / name).read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()


def build_facts(package_dir=PACKAGE_DIR):
    """What a compiled kernel depends on besides its arguments, as ``(name, value)`` pairs."""
    triple, cpu_name, cpu_features = cpu_target.target_context.codegen().magic_tuple()
    return (
        ("sources", source_digest(package_dir)),
        ("python", sys.implementation.cache_tag),
        ("numpy", np.__version__),
        ("numba", numba.__version__),
        ("llvmlite", llvmlite.__version__),
        ("target", triple),
        ("cpu", cpu_name),
        ("cpu_features", cpu_features),
        ("boundscheck", str(config.BOUNDSCHECK)),
        ("opt", str(config.OPT)),
        ("debuginfo", str(config.DEBUGINFO_DEFAULT)),
    )


def build_key(facts):
    """A short hexadecimal key for ``facts`` (see ``build_facts``)."""
    digest = hashlib.sha256(repr(tuple(facts)).encode())
    return digest.hexdigest()[:16]


def cache_root():
    """The directory holding fastnn's cache: one subdirectory per kernel build."""
    explicit = os.environ.get("FASTNN_CACHE_DIR")
    if explicit:
        return os.path.abspath(os.path.expanduser(explicit))
    if config.CACHE_DIR:
        return os.path.join(os.path.abspath(config.CACHE_DIR), "fastnn")
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or os.path.expanduser(r"~\AppData\Local")
        return os.path.join(base, "fastnn", "Cache")
    if sys.platform == "darwin":
        return os.path.expanduser("~/Library/Caches/fastnn")
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return os.path.join(base, "fastnn")


_CACHE_DIR = None


def cache_dir():
    """This build's cache directory (created on first use).

    When the preferred directory cannot be written (a read-only home in a
    container, say), a per-user directory under the system's temporary
    directory is used instead.
    """
    global _CACHE_DIR
    if _CACHE_DIR is None:
        key = build_key(build_facts())
        from . import __version__

        name = f"{__version__}-{sys.implementation.cache_tag}-{key}"
        preferred = os.path.join(cache_root(), name)
        fallback = os.path.join(tempfile.gettempdir(), f"fastnn-{_user()}", name)
        for path in (preferred, fallback):
            try:
                os.makedirs(path, exist_ok=True)
                tempfile.TemporaryFile(dir=path).close()
            except OSError:
                continue
            _CACHE_DIR = path
            break
        else:
            raise OSError(f"fastnn cannot write its kernel cache to {preferred} or {fallback};"
                          " set FASTNN_CACHE_DIR to a writable directory")
    return _CACHE_DIR


def _user():
    try:
        return str(os.getuid())
    except AttributeError:  # Windows
        return os.environ.get("USERNAME", "user")


class FastnnCacheLocator(caching._CacheLocator):
    """Numba cache locator for the functions of the fastnn package.

    The directory already encodes the build key, so the source stamp is that
    key too: an index written by any other build is never read.
    """

    def __init__(self, py_func):
        self._lineno = py_func.__code__.co_firstlineno
        self._cache_path = cache_dir()

    def get_cache_path(self):
        return self._cache_path

    def get_source_stamp(self):
        return os.path.basename(self._cache_path)

    def get_disambiguator(self):
        return str(self._lineno)

    @classmethod
    def from_function(cls, py_func, py_file):
        if Path(py_file).resolve().parent != PACKAGE_DIR:
            return None
        return cls(py_func)


def register():
    """Put the locator first in Numba's list (idempotent)."""
    impl = getattr(caching, "CacheImpl", None) or caching._CacheImpl
    if FastnnCacheLocator not in impl._locator_classes:
        impl._locator_classes.insert(0, FastnnCacheLocator)


# ---------------------------------------------------------------------------
# Compilation shared between processes
# ---------------------------------------------------------------------------

if sys.platform == "win32":
    import msvcrt

    def _lock(f):
        while True:
            try:
                msvcrt.locking(f.fileno(), msvcrt.LK_LOCK, 1)  # retries for 10 s
                return
            except OSError:
                continue

    def _unlock(f):
        f.seek(0)
        msvcrt.locking(f.fileno(), msvcrt.LK_UNLCK, 1)
else:
    import fcntl

    def _lock(f):
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)

    def _unlock(f):
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)


@contextlib.contextmanager
def file_lock(path):
    """Hold an exclusive advisory lock on ``path`` (created if needed).

    Where the file cannot be opened or locked (a file system without
    locks), nothing is locked: compiling twice is then possible, as it is
    with Numba's own cache, but never wrong for a single process.
    """
    try:
        f = open(path, "a+b")  # noqa: SIM115 (closed below)
    except OSError:
        yield
        return
    with f:
        try:
            _lock(f)
        except OSError:
            yield
            return
        try:
            yield
        finally:
            _unlock(f)


#: Called as ``on_cache_miss(dispatcher, signature)`` when a variant is not in
#: the cache and is about to be compiled (``_compile`` sets it).
on_cache_miss = None


def _loader(cache):
    """``cache.load_overload`` without its refresh of the target context.

    Numba's loader first refreshes the context: it imports and registers
    every implementation Numba has, for compiling, which takes ~0.15 s in a
    fresh process and is not needed to load compiled code; only Numba's
    runtime must be initialised, for the symbols the code links to.  A
    compilation still refreshes the context itself.  Where Numba's
    internals are not those this relies on, Numba's own loader.
    """
    load, guard = (getattr(cache, name, None)
                   for name in ("_load_overload", "_guard_against_spurious_io_errors"))
    if load is None or guard is None:
        return cache.load_overload

    def load_overload(sig, target_context):
        rtsys.initialize(target_context)
        with guard():
            return load(sig, target_context)
        return None  # (an I/O error the guard swallowed)

    return load_overload


class _NotCached(Exception):
    """A variant ``LockingDispatcher.load_cached`` looked for is not in the cache."""


class LockingDispatcher(CPUDispatcher):
    """A Numba CPU dispatcher whose compilations are coordinated across the
    processes sharing the cache (see the module docstring).

    Two advisory locks per function: one per signature, held from the cache
    lookup to the save of what was compiled, so that a second process
    wanting the same variant waits and then loads it (while variants of
    other signatures compile at the same time); and one on the function's
    cache index, held only while it is read or rewritten, so that two
    processes saving variants of one function never drop each other's
    entries or write one data file.  Only a compilation in this process (a
    signature not yet in memory) takes them; calls to compiled code never
    do.  Signature locks are taken inside Numba's compiler lock, callers
    before callees: the call graph has no cycles, so no two processes can
    wait on each other; the index lock is taken last and held briefly.
    """

    def _lock_path(self, suffix):
        func = self.py_func
        name = f"{func.__module__}.{func.__qualname__}-{func.__code__.co_firstlineno}"
        return os.path.join(cache_dir(), f"{name}{suffix}.lock")

    def enable_caching(self):
        super().enable_caching()
        cache, save = self._cache, self._cache.save_overload
        load = _loader(cache)

        def load_overload(sig, target_context):
            with file_lock(self._lock_path("")):
                cres = load(sig, target_context)
            if cres is None and self._probing:
                raise _NotCached
            if cres is None and on_cache_miss is not None:
                on_cache_miss(self, sig)
            return cres

        def save_overload(*args, **kwargs):
            with file_lock(self._lock_path("")):
                return save(*args, **kwargs)

        cache.load_overload, cache.save_overload = load_overload, save_overload

    _probing = False  # set by ``load_cached``: a cache miss raises _NotCached

    @global_compiler_lock
    def load_cached(self, sig):
        """Load variant ``sig`` from memory or the on-disk cache, compiling nothing.

        Returns whether it is now loaded.
        """
        args, _ = numba.core.sigutils.normalize_signature(sig)
        if tuple(args) in self.overloads:
            return True
        if not isinstance(self._cache, caching.FunctionCache):
            return False
        self._probing = True
        try:
            self.compile(sig)
        except _NotCached:
            return False
        finally:
            self._probing = False
        return True

    @global_compiler_lock
    def compile(self, sig):
        args, _ = numba.core.sigutils.normalize_signature(sig)
        if tuple(args) in self.overloads or not isinstance(self._cache, caching.FunctionCache):
            return super().compile(sig)
        digest = hashlib.sha256(repr(tuple(args)).encode()).hexdigest()[:16]
        with file_lock(self._lock_path(f"-{digest}")):
            return super().compile(sig)
