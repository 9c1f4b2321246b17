"""One settings object, read once from the environment and passed into factories."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    """Everything configurable. Secrets have no defaults."""

    root: Path = ROOT
    content_dir: Path = ROOT / "content"
    models_dir: Path = ROOT / "models"
    data_dir: Path = ROOT / "var"
    reports_dir: Path = ROOT / "reports"
    action_host: str = "127.0.0.1"
    action_port: int = 5055
    max_message_chars: int = 1000
    database_url: str = ""  # empty: SQLite file under data_dir
    redis_url: str = ""  # set (with PostgreSQL) → several workers share locks and rate limits in Redis
    answer_timeout: float = 8.0  # seconds before a message gets the fallback reply instead of hanging
    retention_days: int = 30
    rate_limit_per_minute: int = 20
    allowlist: tuple[str, ...] = ()  # "channel:external_id" entries let users in without an invitation
    host: str = "127.0.0.1"
    port: int = 8080
    telegram_token: str = ""  # secret: no default
    telegram_base_url: str = ""  # another Bot API server (self-hosted or a test server)
    telegram_webhook_url: str = ""  # set → webhook mode (several workers); unset → long polling
    telegram_webhook_secret: str = ""
    web_secret: str = ""  # signs portal tokens; unset → a random one under data_dir (development)
    trusted_proxies: tuple[str, ...] = ()  # addresses whose user header is believed
    proxy_user_header: str = "X-Remote-User"
    frame_ancestors: tuple[str, ...] = ("'self'",)  # origins allowed to embed the widget
    max_body_bytes: int = 16 * 1024
    admins: tuple[str, ...] = ()  # "channel:external_id" entries with the admin role (e.g. web:ola.nordmann)

    @property
    def db_url(self) -> str:
        """The store's database: VEIVISER_DATABASE_URL, else a SQLite file under VEIVISER_DATA_DIR."""
        return self.database_url or f"sqlite:///{self.data_dir / 'veiviser.db'}"

    @property
    def training_inputs(self) -> list[Path]:
        """Files whose change makes the trained model stale."""
        files = [self.root / "config.yml"]
        for folder in ("domain", "nlu"):
            files.extend(sorted((self.root / folder).glob("*.yml")))
        return files

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> "Settings":
        env = dict(os.environ if env is None else env)
        root = Path(env.get("VEIVISER_ROOT", ROOT))
        return cls(
            root=root,
            content_dir=Path(env.get("VEIVISER_CONTENT_DIR", root / "content")),
            models_dir=Path(env.get("VEIVISER_MODELS_DIR", root / "models")),
            data_dir=Path(env.get("VEIVISER_DATA_DIR", root / "var")),
            reports_dir=Path(env.get("VEIVISER_REPORTS_DIR", root / "reports")),
            action_host=env.get("VEIVISER_ACTION_HOST", "127.0.0.1"),
            action_port=int(env.get("VEIVISER_ACTION_PORT", "5055")),
            max_message_chars=int(env.get("VEIVISER_MAX_MESSAGE_CHARS", "1000")),
            database_url=env.get("VEIVISER_DATABASE_URL", ""),
            redis_url=env.get("VEIVISER_REDIS_URL", ""),
            answer_timeout=float(env.get("VEIVISER_ANSWER_TIMEOUT", "8")),
            retention_days=int(env.get("VEIVISER_RETENTION_DAYS", "30")),
            rate_limit_per_minute=int(env.get("VEIVISER_RATE_LIMIT_PER_MINUTE", "20")),
            allowlist=tuple(x.strip() for x in env.get("VEIVISER_ALLOWLIST", "").split(",") if x.strip()),
            host=env.get("VEIVISER_HOST", "127.0.0.1"),
            port=int(env.get("VEIVISER_PORT", "8080")),
            telegram_token=env.get("VEIVISER_TELEGRAM_TOKEN", ""),
            telegram_base_url=env.get("VEIVISER_TELEGRAM_BASE_URL", ""),
            telegram_webhook_url=env.get("VEIVISER_TELEGRAM_WEBHOOK_URL", ""),
            telegram_webhook_secret=env.get("VEIVISER_TELEGRAM_WEBHOOK_SECRET", ""),
            web_secret=env.get("VEIVISER_WEB_SECRET", ""),
            trusted_proxies=tuple(x.strip() for x in env.get("VEIVISER_TRUSTED_PROXIES", "").split(",") if x.strip()),
            proxy_user_header=env.get("VEIVISER_PROXY_USER_HEADER", "X-Remote-User"),
            frame_ancestors=tuple(env.get("VEIVISER_FRAME_ANCESTORS", "'self'").split()),
            admins=tuple(x.strip() for x in env.get("VEIVISER_ADMINS", "").split(",") if x.strip()),
        )
