"""The users and API keys the service signs in: a SQLite file of its own beside the record
(`injector.db` -> `injector-credentials.db`), readable by its owner alone (0600),
append-only and hash-chained as the record is (injector/store/chain.py), so a row slipped in
by hand (an admin nobody made) shows and the service refuses every sign-in until it is fixed.

Why a file of its own and not a table of the record: the record is a document that leaves
the device (exported, handed to an auditor, copied with a complaint) and credentials, even
hashed, must not travel with it; it can be closed to everyone but the service's own user
while the record is read by every command; and a clinic that loses it (a forgotten admin
password) makes a new one without touching the record. What the record does hold, by name
and never a hash: every user and key made and by whom, every sign-in, every action (its
`actions` table).

PINs and passwords: scrypt (the standard library's), N = 2^15, r = 8, p = 1 (32 MiB and
about a tenth of a second each), a random 16-byte salt each, the parameters stored with the
hash so they can grow. API keys: 32 random bytes, stored as their SHA-256 alone: a slow hash
guards secrets a person could guess, these cannot be guessed, and a key is checked on every
request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import sqlite3
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from drivers.values import ValueRefused
from injector import inputs
from injector.errors import InjectorError
from injector.store import now_iso
from injector.store.chain import GENESIS, chained, columns_of, rows
from injector.store.schema import trigger_sql

APPLICATION_ID = 0x494E4A43
"""'INJC': marks the file as our credentials, never to be taken for a record."""
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
KEY_PREFIX = "ik"
TABLES = ("users", "api_keys", "revocations")
SCHEMA = """
CREATE TABLE users (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, secret_hash TEXT NOT NULL,
    created_at TEXT NOT NULL, created_by TEXT NOT NULL, row_hash TEXT);
CREATE TABLE api_keys (
    id INTEGER PRIMARY KEY, key_id TEXT NOT NULL, name TEXT NOT NULL, role TEXT NOT NULL,
    key_hash TEXT NOT NULL, created_at TEXT NOT NULL, created_by TEXT NOT NULL, row_hash TEXT);
CREATE TABLE revocations (
    id INTEGER PRIMARY KEY, kind TEXT NOT NULL, name TEXT NOT NULL, at TEXT NOT NULL,
    by TEXT NOT NULL, reason TEXT NOT NULL, row_hash TEXT)
"""


class Role(Enum):
    """What a signed-in person or machine may do; each role includes the ones before it."""

    CLINICIAN = "clinician"
    TECHNICIAN = "technician"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def includes(self, needed: Role) -> bool:
        return self.rank >= needed.rank

    @classmethod
    def parse(cls, value: object) -> Role:
        names = ", ".join(r.value for r in cls)
        try:
            return cls(value)
        except ValueError:
            raise ValueRefused("role", value, f"is not a role; give one of {names}",
                               names) from None


class CredentialKind(Enum):
    USER = "user"
    KEY = "key"


class CredentialsError(InjectorError):
    """The credentials file cannot be used: which file and why, in one line."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path, self.reason = path, reason
        super().__init__(f"the credentials {path}: {reason}")


@dataclass(frozen=True)
class User:
    name: str
    role: Role
    secret_hash: str
    created_at: str
    created_by: str
    disabled: bool = False


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    name: str
    role: Role
    key_hash: str
    created_at: str
    created_by: str
    revoked: bool = False


@dataclass(frozen=True)
class Snapshot:
    users: dict[str, User]
    keys: dict[str, ApiKey]
    """By key id."""


def credentials_path(record: Path) -> Path:
    return record.with_name(f"{record.stem}-credentials.db")


def hash_secret(secret: str, *, n: int = SCRYPT_N) -> str:
    """scrypt$N$r$p$salt$hash, base64."""
    salt = secrets.token_bytes(16)
    digest = _scrypt(secret, salt, n, SCRYPT_R, SCRYPT_P)
    return "$".join(("scrypt", str(n), str(SCRYPT_R), str(SCRYPT_P), _b64(salt), _b64(digest)))


def secret_matches(secret: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = _scrypt(secret, base64.b64decode(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


_DECOY = None


def decoy_check(secret: str) -> None:
    """As long as a real check: an unknown name costs what a known one does, so the time a
    refusal takes does not say which names exist."""
    global _DECOY
    if _DECOY is None:
        _DECOY = hash_secret("decoy")
    secret_matches(secret, _DECOY)


def _scrypt(secret: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(secret.encode("utf-8"), salt=salt, n=n, r=r, p=p,
                          maxmem=256 * n * r + 1024 * 1024, dklen=32)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def key_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


class Credentials:
    """The file; opened on each use, so users and keys added from the command line count at
    the service's next sign-in without a restart."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._cached: tuple[tuple[int, int, int], Snapshot] | None = None

    # ---- opening -------------------------------------------------------------------------

    def _connect(self, *, create: bool) -> sqlite3.Connection:
        if not self.path.exists():
            if not create:
                raise CredentialsError(self.path, "no such file: add a user first (injector "
                                                  "user add NAME --role ROLE)")
            if not self.path.parent.is_dir():
                raise CredentialsError(self.path, f"the folder {self.path.parent} does not "
                                                  "exist")
            os.close(os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        try:
            db = sqlite3.connect(self.path, isolation_level=None, timeout=10.0)
            db.execute("BEGIN IMMEDIATE" if create else "BEGIN")
            application_id = db.execute("PRAGMA application_id").fetchone()[0]
            tables = {row[0] for row in db.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'")}
            if application_id == 0 and not tables and create:
                for statement in filter(str.strip, SCHEMA.split(";")):
                    db.execute(statement)
                for table in TABLES:
                    for sql in trigger_sql(table).values():
                        db.execute(sql)
                db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            elif application_id != APPLICATION_ID:
                db.execute("ROLLBACK")
                db.close()
                raise CredentialsError(self.path, "not an injector credentials file; left "
                                                  "untouched")
            return db
        except sqlite3.Error as exc:
            raise CredentialsError(self.path, f"cannot be opened: {exc}") from None

    def _append(self, db: sqlite3.Connection, table: str, values: dict) -> None:
        last = db.execute(f"SELECT rowid, row_hash FROM {table} ORDER BY rowid DESC "
                          "LIMIT 1").fetchone()
        rowid = last[0] + 1 if last else 1
        row = {name: values.get(name) for name, _ in columns_of(db, table)}
        row["id"] = rowid
        row_hash = chained(last[1] if last else GENESIS, table, rowid, row)
        names = [*row, "row_hash"]
        db.execute(f"INSERT INTO {table} ({', '.join(names)}) VALUES "
                   f"({', '.join('?' for _ in names)})", (*row.values(), row_hash))

    def _write(self, work) -> object:
        db = self._connect(create=True)
        try:
            result = work(db)
            db.execute("COMMIT")
            return result
        except BaseException:
            db.execute("ROLLBACK")
            raise
        finally:
            db.close()

    # ---- changes (the command line) ------------------------------------------------------

    def add_user(self, name: str, role: Role, secret: str, *, by: str,
                 scrypt_n: int = SCRYPT_N) -> User:
        name = inputs.USER_NAME.check(name)
        secret = inputs.SECRET.check(secret)
        hashed = hash_secret(secret, n=scrypt_n)

        def work(db):
            if db.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
                raise ValueRefused("user name", name, "is taken; give another name",
                                   "a name not yet used")
            user = User(name, role, hashed, now_iso(), by)
            self._append(db, "users", {"name": name, "role": role.value,
                                       "secret_hash": hashed, "created_at": user.created_at,
                                       "created_by": by})
            return user
        return self._write(work)

    def add_key(self, name: str, role: Role, *, by: str) -> tuple[ApiKey, str]:
        """The key and its text, shown once: only its hash is kept."""
        name = inputs.KEY_NAME.check(name)
        key_id, secret = secrets.token_hex(4), secrets.token_urlsafe(32)
        text = f"{KEY_PREFIX}_{key_id}_{secret}"

        def work(db):
            if db.execute("SELECT 1 FROM api_keys WHERE name = ?", (name,)).fetchone():
                raise ValueRefused("key name", name, "is taken; give another name",
                                   "a name not yet used")
            key = ApiKey(key_id, name, role, key_hash(secret), now_iso(), by)
            self._append(db, "api_keys", {"key_id": key_id, "name": name,
                                          "role": role.value, "key_hash": key.key_hash,
                                          "created_at": key.created_at, "created_by": by})
            return key
        return self._write(work), text

    def revoke(self, kind: CredentialKind, name: str, *, by: str, reason: str) -> None:
        """A user disabled or a key revoked, for good; recorded with who and why."""
        table = "users" if kind is CredentialKind.USER else "api_keys"

        def work(db):
            if not db.execute(f"SELECT 1 FROM {table} WHERE name = ?", (name,)).fetchone():
                raise ValueRefused(f"{kind.value} name", name, f"is not a {kind.value} here",
                                   f"a {kind.value} that exists")
            self._append(db, "revocations", {"kind": kind.value, "name": name,
                                             "at": now_iso(), "by": by, "reason": reason})
        self._write(work)

    # ---- reading (the service) -----------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """Every user and key, read again only when the file changed; the chain verified."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return Snapshot({}, {})
        stamp = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if self._cached is not None and self._cached[0] == stamp:
            return self._cached[1]
        db = self._connect(create=False)
        try:
            for table in TABLES:
                previous = GENESIS
                for rowid, row, stored in rows(db, table):
                    previous = chained(previous, table, rowid, row)
                    if stored != previous:
                        raise CredentialsError(self.path, f"{table} row {rowid} was changed "
                                               "outside injector (its hash chain breaks): "
                                               "every sign-in is refused until it is restored")
            revoked = {(r[0], r[1]) for r in db.execute("SELECT kind, name FROM revocations")}
            users = {r[0]: User(r[0], Role(r[1]), r[2], r[3], r[4],
                                ("user", r[0]) in revoked)
                     for r in db.execute("SELECT name, role, secret_hash, created_at, "
                                         "created_by FROM users ORDER BY id")}
            keys = {r[0]: ApiKey(r[0], r[1], Role(r[2]), r[3], r[4], r[5],
                                 ("key", r[1]) in revoked)
                    for r in db.execute("SELECT key_id, name, role, key_hash, created_at, "
                                        "created_by FROM api_keys ORDER BY id")}
        except sqlite3.Error as exc:
            raise CredentialsError(self.path, f"cannot be read: {exc}") from None
        finally:
            db.execute("ROLLBACK")
            db.close()
        snapshot = Snapshot(users, keys)
        self._cached = (stamp, snapshot)
        return snapshot

    def user_for(self, name: str, secret: str) -> User | None:
        """The user whose PIN or password this is, or None (disabled counts as unknown).
        Slow by design: call it off the event loop."""
        user = self.snapshot().users.get(name)
        if user is None or user.disabled:
            decoy_check(secret)
            return None
        return user if secret_matches(secret, user.secret_hash) else None

    def key_for(self, text: str) -> ApiKey | None:
        """The live API key this text is, or None."""
        if not text.isascii():
            return None
        parts = text.split("_", 2)
        if len(parts) != 3 or parts[0] != KEY_PREFIX:
            return None
        key = self.snapshot().keys.get(parts[1])
        if key is None or key.revoked:
            return None
        return key if hmac.compare_digest(key.key_hash, key_hash(parts[2])) else None
