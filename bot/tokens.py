"""Short-lived HMAC-signed tokens issued by the intranet portal (`veiviser token create`).

Format: base64url(JSON {"sub", "exp", "alg": "HS256"}) "." base64url(HMAC-SHA256(secret, payload)).
One fixed algorithm, expiry checked, signatures compared in constant time."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from pathlib import Path

ALG = "HS256"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def create_token(secret: bytes, subject: str, ttl_seconds: int, now: float | None = None) -> str:
    payload = json.dumps({"sub": subject, "exp": int((now or time.time()) + ttl_seconds), "alg": ALG},
                         separators=(",", ":")).encode()
    body = _b64(payload)
    return body + "." + _b64(hmac.new(secret, body.encode(), hashlib.sha256).digest())


def verify_token(secret: bytes, token: str, now: float | None = None) -> str | None:
    """The token's subject, or None if it is malformed, forged, of another algorithm, or expired."""
    try:
        body, signature = token.strip().split(".")
        expected = hmac.new(secret, body.encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(expected, _unb64(signature)):
            return None
        payload = json.loads(_unb64(body))
        if payload.get("alg") != ALG or not isinstance(payload.get("sub"), str) or not payload["sub"]:
            return None
        if float(payload.get("exp", 0)) < (now or time.time()):
            return None
        return payload["sub"]
    except (ValueError, TypeError, json.JSONDecodeError, UnicodeDecodeError):
        return None


def load_or_create_secret(configured: str, data_dir: Path) -> bytes:
    """The configured secret; without one (development), a random one kept under the data dir."""
    if configured:
        return configured.encode()
    path = Path(data_dir) / "web_secret"
    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48).encode()
    path.write_bytes(value)
    path.chmod(0o600)
    return value
