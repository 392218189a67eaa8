"""Content-keyed memory for the parts of the estimators that do not depend on the outcome.

A study runs every estimator on several outcomes with the same rows, covariates and weights (the plan's
claims outcomes share one sample, its checkup outcomes another). What depends only on those, a cell's
propensity fit or a regressor's fixed-effect residual, is made once per content (``digest``) and reused:
the same numbers as making it again, since it is the same computation on the same bytes.
"""

from __future__ import annotations

import ctypes
import gc
import hashlib
from collections import OrderedDict

import numpy as np

from analysis.errors import DiDError


def digest(*arrays: np.ndarray | None) -> bytes:
    """A fingerprint of the arrays' contents, dtypes and shapes (blake2b)."""
    h = hashlib.blake2b(digest_size=16)
    for a in arrays:
        if a is not None:
            a = np.ascontiguousarray(a)
            h.update(str((a.dtype.str, a.shape)).encode())
            h.update(a.view(np.uint8).reshape(-1))
    return h.digest()


def _nbytes(obj) -> int:
    """Bytes of an array, of a list or tuple of arrays, or of an object's array attributes."""
    if isinstance(obj, np.ndarray):
        return obj.nbytes
    parts = obj if isinstance(obj, (list, tuple)) else vars(obj).values()
    return sum(v.nbytes for v in parts if isinstance(v, np.ndarray))


# every cache of the estimators by name, so that a caller can see what they hold and release it
_CACHES: dict[str, Memo] = {}


def cache_info() -> dict[str, dict[str, int]]:
    """What each of the estimators' caches holds: ``items``, ``bytes`` and its bound ``max_bytes``."""
    return {name: {"items": len(m), "bytes": m.nbytes, "max_bytes": m.max_bytes} for name, m in _CACHES.items()}


def set_cache_limit(total_bytes: int) -> dict[str, int]:
    """Bound the estimators' caches at ``total_bytes`` together (the plan's ``engine.cache_limit_gb``).

    The total is shared in the proportions of the caches' own bounds (1 GiB for ``att_gt``'s fits, 512 MiB
    for ``twfe``'s residuals, 1 GiB for the bootstrap's weights: their 2.5 GiB total gives them back
    exactly); a cache holding more than its new bound lets its least recently used objects go at once.
    The numbers the estimators give do not depend on it, only the time they take.

    Parameters
    ----------
    total_bytes : int
        The bound of all the caches together, in bytes (0: each keeps only the last object it made, and
        the bootstrap draws its weights afresh).

    Returns
    -------
    dict of str to int
        Each cache's bound before the call, by name (as ``cache_info()`` names them).

    Examples
    --------
    >>> from analysis.did import cache_info, set_cache_limit
    >>> before = set_cache_limit(5 * 2**30)
    >>> cache_info()["twfe_residuals"]["max_bytes"] == 1 << 30
    True
    >>> _ = set_cache_limit(sum(before.values()))
    """
    if isinstance(total_bytes, bool) or not isinstance(total_bytes, int | np.integer) or total_bytes < 0:
        raise DiDError(f"set_cache_limit: total_bytes must be a non-negative integer; got {total_bytes!r}")
    before = {name: m.max_bytes for name, m in _CACHES.items()}
    shares = sum(m.default_bytes for m in _CACHES.values())
    for m in _CACHES.values():
        m.resize(int(total_bytes) * m.default_bytes // shares if shares else 0)
    return before


def clear_caches() -> None:
    """Release every cache of the estimators (the next fits make their parts again, with the same numbers)."""
    for m in _CACHES.values():
        m.clear()


def release_memory() -> None:
    """Hand freed memory back to the operating system (glibc keeps freed blocks of arrays below its mmap
    threshold, up to 32 MB, in its heaps: at 0.1 x Seoul a process that had finished its work still held
    several GB, enough for a second process beside it to be killed). A no-op where there is no glibc."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class Memo:
    """At most ``max_bytes`` of objects by key, least recently used first out (the last one made is always
    kept, whatever its size); registered under ``name`` for ``cache_info`` and ``clear_caches``."""

    def __init__(self, name: str, max_bytes: int):
        if name in _CACHES:
            raise DiDError(f"a cache named {name!r} exists already")
        self.name = name
        self.max_bytes = max_bytes
        self.default_bytes = max_bytes  # its share of a total set by ``set_cache_limit``
        self._items: OrderedDict = OrderedDict()
        _CACHES[name] = self

    @property
    def nbytes(self) -> int:
        return sum(b for _, b in self._items.values())

    def get(self, key, make):
        """The object of ``key``, made by ``make()`` the first time."""
        if key in self._items:
            return self[key]
        obj = make()
        self._items[key] = (obj, _nbytes(obj))
        self._trim()
        return obj

    def resize(self, max_bytes: int) -> None:
        """Hold at most ``max_bytes`` from now on (least recently used objects go at once beyond it)."""
        self.max_bytes = int(max_bytes)
        self._trim()

    def _trim(self) -> None:
        while len(self._items) > 1 and self.nbytes > self.max_bytes:
            self._items.popitem(last=False)

    def __getitem__(self, key):
        self._items.move_to_end(key)
        return self._items[key][0]

    def __contains__(self, key) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def clear(self) -> None:
        self._items.clear()
