"""Which trained model is in service: `models/registry.json`.

Every archive `veiviser train` makes is recorded with its SHA-256. One of them is *in service*; it
changes only by `veiviser promote` (after the evaluation gate) or `veiviser rollback`, and every
change is kept in the history. A running service watches this file and loads the model it names.
An archive whose bytes no longer match the recorded hash is refused.

    {"models":  {"<archive>": {"sha256": "…", "trained_at": "…"}},
     "current": "<archive>",
     "history": [{"model": "<archive>", "at": "…", "by": "…", "action": "promote", …}]}
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

REGISTRY = "registry.json"


class ModelIntegrityError(RuntimeError):
    """The archive's SHA-256 does not match the one recorded when it was trained."""


class RegistryError(RuntimeError):
    """Nothing to promote, nothing to roll back to, or an unknown model."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass
class ModelRegistry:
    models_dir: Path

    @property
    def path(self) -> Path:
        return Path(self.models_dir) / REGISTRY

    # -- reading ------------------------------------------------------------------------------
    def read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            data = {}
        data.setdefault("models", {})
        data.setdefault("current", None)
        data.setdefault("history", [])
        return data

    def stamp(self) -> float:
        """Changes whenever the registry is written (what a running service watches)."""
        try:
            return self.path.stat().st_mtime_ns
        except FileNotFoundError:
            return 0

    def current(self) -> Path | None:
        name = self.read()["current"]
        return Path(self.models_dir) / name if name else None

    def trained(self) -> list[Path]:
        """Recorded archives that still exist, oldest first."""
        data = self.read()["models"]
        names = sorted(data, key=lambda n: data[n].get("trained_at", ""))
        return [Path(self.models_dir) / n for n in names if (Path(self.models_dir) / n).exists()]

    def newest(self) -> Path | None:
        trained = self.trained()
        return trained[-1] if trained else None

    def verify(self, archive: Path) -> str:
        """The archive's hash if it matches the recorded one; raise otherwise."""
        archive = Path(archive)
        recorded = self.read()["models"].get(archive.name, {}).get("sha256")
        if not recorded:
            raise ModelIntegrityError(f"{archive.name} er ikke registrert (tren med `veiviser train`).")
        actual = sha256_of(archive)
        if actual != recorded:
            raise ModelIntegrityError(
                f"{archive.name} er endret etter treningen (SHA-256 {actual[:12]}… ≠ registrert {recorded[:12]}…).")
        return actual

    # -- writing ------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _update(self) -> Iterator[dict[str, Any]]:
        """Read, change and write back under an exclusive lock; the file is replaced atomically."""
        Path(self.models_dir).mkdir(parents=True, exist_ok=True)
        with open(Path(self.models_dir) / ".registry.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            data = self.read()
            yield data
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            os.replace(tmp, self.path)

    def record(self, archive: Path) -> str:
        """Record a newly trained archive and its hash (does not put it in service)."""
        archive = Path(archive)
        digest = sha256_of(archive)
        with self._update() as data:
            entry = data["models"].get(archive.name)
            if entry and entry.get("sha256") == digest:
                entry["trained_at"] = _now()  # Rasa reused an unchanged archive: it is the newest again
            else:
                data["models"][archive.name] = {"sha256": digest, "trained_at": _now()}
        return digest

    def set_current(self, archive: Path, by: str, action: str, **details: Any) -> None:
        archive = Path(archive)
        self.verify(archive)
        with self._update() as data:
            previous = data["current"]
            data["current"] = archive.name
            data["history"].append({"model": archive.name, "previous": previous, "at": _now(), "by": by,
                                    "action": action, **details})

    def previous(self) -> Path | None:
        """The model that was in service before the current one (what rollback restores)."""
        data = self.read()
        for entry in reversed(data["history"]):
            if entry["action"] == "rollback":
                continue  # roll back along the promotions, not back and forth
            if entry["model"] == data["current"] and entry.get("previous"):
                candidate = Path(self.models_dir) / entry["previous"]
                return candidate if candidate.exists() else None
        return None

    def adopt_untracked(self) -> Path | None:
        """A models/ directory from before the registry: record the newest archive and serve it."""
        if self.current() is not None:
            return self.current()
        archives = sorted(Path(self.models_dir).glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
        if not archives:
            return None
        self.record(archives[-1])
        self.set_current(archives[-1], by="system", action="adopt")
        return archives[-1]
