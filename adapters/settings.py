"""The one place that turns Strongroom's environment into configuration.

STRONGROOM_DATABASE_URL selects the store: unset means a SQLite file under
STRONGROOM_HOME (default ~/.strongroom); otherwise `sqlite:///path` or
`postgresql://user:pass@host:port/db`.  `Settings.app_env()` translates that into
the eventsourcing library's own variables.  Nothing else reads os.environ.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from hashlib import sha256
from pathlib import Path
from urllib.parse import SplitResult, quote, unquote, urlsplit

from adapters.ledger.config import DEFAULT_CHECKPOINT_EVERY

APP_PREFIX = "STRONGROOM_"
DATABASE_URL = "STRONGROOM_DATABASE_URL"
HOME = "STRONGROOM_HOME"
CHECKPOINT_EVERY = "STRONGROOM_CHECKPOINT_EVERY"
CHECKPOINT_SECONDS = "STRONGROOM_CHECKPOINT_SECONDS"
EXPIRY_SECONDS = "STRONGROOM_EXPIRY_SECONDS"
SNAPSHOT_INTERVAL = "STRONGROOM_SNAPSHOT_INTERVAL"
CACHE_SIZE = "STRONGROOM_AGGREGATE_CACHE_MAXSIZE"
ALERT_RULES = "STRONGROOM_ALERT_RULES"
TRUSTED_PROXIES = "STRONGROOM_TRUSTED_PROXIES"
RATE_WINDOW = "STRONGROOM_RATE_WINDOW_SECONDS"
RATE_ANONYMOUS = "STRONGROOM_RATE_ANONYMOUS"
RATE_FAILED_AUTH = "STRONGROOM_RATE_FAILED_AUTH"
RATE_SOURCES = "STRONGROOM_RATE_SOURCES"

DEFAULT_CHECKPOINT_SECONDS = 60.0
DEFAULT_EXPIRY_SECONDS = 1.0
DEFAULT_CACHE_SIZE = 10_000
URL_FORMS = "sqlite:///path/to/file.db or postgresql://user:pass@host:port/dbname"


class SettingsError(ValueError):
    """A setting is unusable; the message names the variable and says why, in one line."""


@dataclass(frozen=True)
class SqliteStore:
    path: str

    kind = "sqlite"

    def describe(self) -> str:
        return f"sqlite:///{self.path}"

    def identity(self) -> str:
        return f"sqlite:{self.path}"


@dataclass(frozen=True)
class PostgresStore:
    host: str
    port: int
    user: str
    password: str
    dbname: str
    schema: str = "public"

    kind = "postgres"

    def describe(self) -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.dbname}"

    def identity(self) -> str:
        return f"postgres:{self.host}:{self.port}/{self.dbname}/{self.schema}"

    def conninfo(self) -> dict[str, object]:
        return {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "dbname": self.dbname,
        }


Store = SqliteStore | PostgresStore
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class RateLimits:
    """How much unauthenticated traffic one client address may cause per window.

    Only traffic that records events without a session is limited: anonymous
    writes (challenge, login, registration) and bearer tokens that fail. A live
    session is never counted, so the authenticated path pays nothing for this.
    """

    window_seconds: float = 60.0
    # A login is two anonymous writes (challenge, login): 30 logins a minute from
    # one address, enough for a lab behind one NAT address.
    anonymous: int = 60
    # At least the denied-burst rule's count (5 by default), so a burst from one
    # address is still recorded one by one up to the alert before refusals fold.
    failed_auth: int = 10
    # Addresses tracked at once; beyond this, new ones share one bucket, so a
    # spray from many addresses can grow neither memory nor the log without bound.
    sources: int = 10_000


@dataclass(frozen=True)
class Settings:
    home: Path
    store: Store
    checkpoint_every: int
    checkpoint_seconds: float
    snapshot_interval: int
    cache_size: int
    alert_rules_path: Path | None = None
    # Peers whose X-Forwarded-For is believed; nobody's by default.
    trusted_proxies: tuple[Network, ...] = ()
    rate_limits: RateLimits = field(default_factory=RateLimits)
    # How often the expiry process looks for certifications whose expiry passed.
    expiry_seconds: float = DEFAULT_EXPIRY_SECONDS

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        home = Path(env.get(HOME) or Path.home() / ".strongroom").expanduser().resolve()
        return cls(
            home=home,
            store=parse_database_url(env.get(DATABASE_URL), home),
            checkpoint_every=_positive_int(env, CHECKPOINT_EVERY, DEFAULT_CHECKPOINT_EVERY),
            checkpoint_seconds=_positive_float(env, CHECKPOINT_SECONDS, DEFAULT_CHECKPOINT_SECONDS),
            snapshot_interval=_positive_int(env, SNAPSHOT_INTERVAL, 100),
            cache_size=_positive_int(env, CACHE_SIZE, DEFAULT_CACHE_SIZE),
            alert_rules_path=Path(env[ALERT_RULES]).expanduser() if env.get(ALERT_RULES) else None,
            trusted_proxies=parse_trusted_proxies(env.get(TRUSTED_PROXIES)),
            rate_limits=RateLimits(
                window_seconds=_positive_float(env, RATE_WINDOW, RateLimits.window_seconds),
                anonymous=_positive_int(env, RATE_ANONYMOUS, RateLimits.anonymous),
                failed_auth=_positive_int(env, RATE_FAILED_AUTH, RateLimits.failed_auth),
                sources=_positive_int(env, RATE_SOURCES, RateLimits.sources),
            ),
            expiry_seconds=_positive_float(env, EXPIRY_SECONDS, DEFAULT_EXPIRY_SECONDS),
        )

    @property
    def audit_dir(self) -> Path:
        return self.home / "audit"

    @property
    def signing_key_path(self) -> Path:
        return self.audit_dir / "signing-key.pem"

    @property
    def public_key_path(self) -> Path:
        return self.audit_dir / "signing-key.pub.pem"

    @property
    def witness_path(self) -> Path:
        # One witness per store, so pointing the same home at another store
        # never compares one store's checkpoints with another's.
        tag = sha256(self.store.identity().encode()).hexdigest()[:12]
        return self.audit_dir / f"witness-{tag}.json"

    @property
    def forensic_export_dir(self) -> Path:
        """The export the server keeps up to date for queries and reports, one per store."""
        tag = sha256(self.store.identity().encode()).hexdigest()[:12]
        return self.home / "forensics" / f"export-{tag}"

    @property
    def projections_url(self) -> str:
        """Where read models live: a sibling SQLite file, or the same Postgres database."""
        if isinstance(self.store, SqliteStore):
            return f"sqlite:///{Path(self.store.path).with_name('projections.db')}"
        s = self.store
        return (
            f"postgresql+psycopg://{quote(s.user, safe='')}:{quote(s.password, safe='')}"
            f"@{s.host}:{s.port}/{quote(s.dbname, safe='')}"
        )

    def app_env(self) -> dict[str, str]:
        """The eventsourcing library's settings for the Strongroom application."""
        env = {
            "AGGREGATE_CACHE_MAXSIZE": str(self.cache_size),
            "SNAPSHOT_INTERVAL": str(self.snapshot_interval),
            "AUDIT_SIGNING_KEY": str(self.signing_key_path),
            "AUDIT_WITNESS": str(self.witness_path),
            "CHECKPOINT_EVERY": str(self.checkpoint_every),
        }
        if isinstance(self.store, SqliteStore):
            env.update(
                PERSISTENCE_MODULE="adapters.ledger.sqlite:ChainedSQLiteFactory",
                SQLITE_DBNAME=self.store.path,
                SQLITE_LOCK_TIMEOUT="30",
            )
        else:
            env.update(
                PERSISTENCE_MODULE="adapters.ledger.postgres:ChainedPostgresFactory",
                POSTGRES_HOST=self.store.host,
                POSTGRES_PORT=str(self.store.port),
                POSTGRES_USER=self.store.user,
                # The library insists on a password even under trust auth.
                POSTGRES_PASSWORD=self.store.password,
                POSTGRES_DBNAME=self.store.dbname,
                POSTGRES_SCHEMA=self.store.schema,
                POSTGRES_LOCK_TIMEOUT="10",
                # Fail fast with a clear message when the server is not there.
                POSTGRES_CONNECT_TIMEOUT="5",
                POSTGRES_POOL_SIZE="5",
                POSTGRES_MAX_OVERFLOW="10",
            )
        # Prefixed, so they win over any unprefixed library variables in the process.
        return {APP_PREFIX + key: value for key, value in env.items()}


def parse_database_url(url: str | None, home: Path) -> Store:
    """The store named by STRONGROOM_DATABASE_URL (a SQLite file under `home` when unset)."""
    if not url:
        return SqliteStore(str(home / "strongroom.db"))
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises on a non-numeric port
    except ValueError as error:
        raise SettingsError(f"{DATABASE_URL}: not a valid URL ({error}); use {URL_FORMS}") from None
    scheme = parts.scheme.lower()
    if scheme == "sqlite":
        return _sqlite_store(parts)
    if scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        return _postgres_store(parts)
    shown = scheme or "(none)"
    raise SettingsError(f"{DATABASE_URL}: unsupported scheme {shown!r}; use {URL_FORMS}")


def _sqlite_store(parts: SplitResult) -> SqliteStore:
    if parts.netloc:
        raise SettingsError(
            f"{DATABASE_URL}: a SQLite URL has no host (got {parts.netloc!r}); "
            "use sqlite:///relative/path or sqlite:////absolute/path"
        )
    path = unquote(parts.path)[1:]  # sqlite:///x -> 'x', sqlite:////x -> '/x'
    if not path:
        raise SettingsError(f"{DATABASE_URL}: the SQLite URL names no file; use {URL_FORMS}")
    if path == ":memory:":
        raise SettingsError(
            f"{DATABASE_URL}: an in-memory store would lose the audit trail; name a file"
        )
    return SqliteStore(str(Path(path).expanduser().resolve()))


def _postgres_store(parts: SplitResult) -> PostgresStore:
    dbname = unquote(parts.path.lstrip("/"))
    if not parts.hostname:
        raise SettingsError(f"{DATABASE_URL}: the Postgres URL names no host; use {URL_FORMS}")
    if not dbname or "/" in dbname:
        raise SettingsError(
            f"{DATABASE_URL}: the Postgres URL must name one database; use {URL_FORMS}"
        )
    return PostgresStore(
        host=parts.hostname,
        port=parts.port or 5432,
        user=unquote(parts.username or "postgres"),
        password=unquote(parts.password or ""),
        dbname=dbname,
    )


def parse_trusted_proxies(raw: str | None) -> tuple[Network, ...]:
    """STRONGROOM_TRUSTED_PROXIES: comma-separated addresses or CIDR networks (none when unset)."""
    networks: list[Network] = []
    for item in (raw or "").split(","):
        item = item.strip()
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=True))
        except ValueError as error:
            # strict: "10.0.0.7/8" is more likely a typo than a wish to trust 10.0.0.0/8.
            raise SettingsError(
                f"{TRUSTED_PROXIES}: {item!r} is not an IP address or CIDR network ({error})"
            ) from None
    return tuple(networks)


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}: expected a whole number, got {raw!r}") from None
    if value < 1:
        raise SettingsError(f"{name}: must be at least 1, got {value}")
    return value


def _positive_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}: expected a number of seconds, got {raw!r}") from None
    if value <= 0:
        raise SettingsError(f"{name}: must be more than 0, got {value}")
    return value
