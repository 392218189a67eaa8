"""Identifier normalisation and linkage keys: HMAC-SHA256(secret, normalised identifiers).

Each data holder derives the keys itself with the secret issued by the key-management agency; only
(key, serial) pairs leave the holder. The secret is read from an environment variable or a file and is
never written anywhere.
"""

from __future__ import annotations

import hmac
import os
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.errors import LinkageError, LinkageSecretError

# key definitions: the fields joined (after normalisation) into each key, in order of preference
KEY_FIELDS = {
    "key1": ("name", "birth_date", "sex"),
    "key2": ("birth_date", "sex", "phone"),
}


@dataclass(frozen=True)
class Secret:
    value: bytes
    source: str  # "env:NAME", "file", or "synthetic-default"

    def __repr__(self) -> str:  # never show the value
        return f"Secret(source={self.source!r})"


def load_secret(env: str, file: str = "", synthetic_seed: int | None = None) -> Secret:
    """Read the secret from ``$env`` or ``file``.

    Without one, a synthetic world (``synthetic_seed`` given) gets a public default derived from its seed,
    so that synthetic runs stay reproducible; anything else is an error. The secret keys both the linkage
    keys and the study-id assignment, so study ids cannot be rebuilt without it.
    """
    val = os.environ.get(env, "")
    if val:
        return Secret(val.encode(), f"env:{env}")
    if file:
        path = Path(file)
        if not path.exists():
            raise LinkageSecretError(f"linkage.secret_file {file!r} does not exist")
        data = path.read_bytes().strip()
        if not data:
            raise LinkageSecretError(f"linkage.secret_file {file!r} is empty")
        return Secret(data, "file")
    if synthetic_seed is None:
        raise LinkageSecretError(
            f"no linkage secret: set ${env} or linkage.secret_file in the plan (required for real data)"
        )
    return synthetic_default_secret(synthetic_seed)


def synthetic_default_secret(seed: int) -> Secret:
    """The public secret of a synthetic world of ``seed`` run without one (reproducible, never for real data)."""
    return Secret(f"synthetic-world-{seed}".encode(), "synthetic-default")


def keyed_seed(secret: Secret, purpose: str, seed: int) -> int:
    """A random-number seed derived from the secret (HMAC), for assignments that must not be rebuildable."""
    return int.from_bytes(hmac.digest(secret.value, f"{purpose}|{seed}".encode(), "sha256")[:16], "big")


def claim_ids(key_seq: np.ndarray, secret: Secret) -> np.ndarray:
    """NHIS claim ids (KEY_SEQ, below 2**62) replaced by new ones: a keyed permutation of [0, 2**62) (a
    four-round Feistel network whose round keys come from the secret), plus one. Claims, diagnoses and
    prescriptions are mapped alike and row by row, with no table of old and new ids, and the released ids
    cannot be matched back to NHIS's without the secret."""
    x = np.asarray(key_seq, dtype=np.uint64)
    if (x >= np.uint64(1 << 62)).any():
        raise LinkageError("KEY_SEQ values must be below 2**62 to be re-keyed")
    mask = np.uint64((1 << 31) - 1)
    left, right = x >> np.uint64(31), x & mask
    for r in range(4):
        k = hmac.digest(secret.value, f"claim-ids|{r}".encode(), "sha256")
        a, b, c = (np.uint64(int.from_bytes(k[i:i + 8], "big") | 1) for i in (0, 8, 16))
        f = ((right * a + b) ^ ((right * c) >> np.uint64(17))) & mask
        left, right = right, left ^ f
    return ((left << np.uint64(31)) | right).astype(np.int64) + 1


_SEX = {"1": "M", "M": "M", "MALE": "M", "남": "M", "2": "F", "F": "F", "FEMALE": "F", "여": "F"}


def normalise(df: pd.DataFrame, table: str) -> pd.DataFrame:
    """Canonical forms of name, birth date (YYYYMMDD), sex (M/F) and phone (digits, 010...).

    Raises :class:`analysis.errors.LinkageError` naming the table, column and rows for values that cannot be
    normalised.
    """
    out = pd.DataFrame(index=df.index)
    name = df["name"].astype(str).map(lambda s: unicodedata.normalize("NFKC", s))
    out["name"] = name.str.replace(r"\s+", "", regex=True).str.upper()
    bd = df["birth_date"].astype(str).str.replace(r"\D", "", regex=True)
    bad = bd.str.len() != 8
    if bad.any():
        rows = list(df.index[bad][:5])
        raise LinkageError(f"{table}.birth_date: {int(bad.sum())} value(s) are not a date (first rows: {rows})")
    out["birth_date"] = bd
    sex = df["sex"].astype(str).str.strip().str.upper().map(_SEX)
    if sex.isna().any():
        rows = list(df.index[sex.isna()][:5])
        raise LinkageError(
            f"{table}.sex: {int(sex.isna().sum())} value(s) not in {sorted(_SEX)} (first rows: {rows})"
        )
    out["sex"] = sex
    phone = df["phone"].astype(str).str.replace(r"\D", "", regex=True)
    out["phone"] = phone.str.replace(r"^8210", "010", regex=True)
    return out


def derive_keys(norm: pd.DataFrame, secret: Secret) -> pd.DataFrame:
    """HMAC-SHA256 keys (raw 32-byte digests) for each key definition, one row per record."""
    keys = {}
    for key, fields in KEY_FIELDS.items():
        msg = norm[fields[0]].str.cat([norm[f] for f in fields[1:]], sep="|")
        keys[key] = (
            np.array([hmac.digest(secret.value, m.encode(), "sha256") for m in msg], dtype="S32")
            if len(msg)
            else np.array([], dtype="S32")
        )
    return pd.DataFrame(keys, index=norm.index)
