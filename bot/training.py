"""Training the Rasa model, and knowing when it is stale."""

from __future__ import annotations

from pathlib import Path

from bot.settings import Settings


def newest_model(models_dir: Path) -> Path | None:
    models = sorted(Path(models_dir).glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    return models[-1] if models else None


def is_stale(settings: Settings) -> bool:
    """True when there is no model or a training file is newer than the newest model."""
    model = newest_model(settings.models_dir)
    if model is None:
        return True
    built = model.stat().st_mtime
    return any(f.stat().st_mtime > built for f in settings.training_inputs if f.exists())


def train(settings: Settings, force: bool = False) -> Path:
    """Train NLU and rules from `config.yml`, `domain/` and `nlu/`; Rasa shows its progress."""
    from rasa.model_training import train as rasa_train

    settings.models_dir.mkdir(parents=True, exist_ok=True)
    result = rasa_train(
        domain=str(settings.root / "domain"),
        config=str(settings.root / "config.yml"),
        training_files=[str(settings.root / "nlu")],
        output=str(settings.models_dir),
        force_training=force,
    )
    if result.code != 0 or not result.model:
        raise RuntimeError(f"Training failed (code {result.code})")
    model = Path(result.model)
    model.touch()  # an unchanged fingerprint reuses the old archive: mark it as current
    return model
