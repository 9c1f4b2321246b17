"""Training the Rasa model, and knowing when it is stale."""

from __future__ import annotations

from pathlib import Path

from bot.settings import Settings


def newest_model(models_dir: Path) -> Path | None:
    models = sorted(Path(models_dir).glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    return models[-1] if models else None


def model_in_service(settings: Settings) -> Path:
    """The archive the registry names, checked against its recorded SHA-256."""
    from bot.assistant import ModelMissing
    from bot.registry import ModelRegistry

    registry = ModelRegistry(settings.models_dir)
    current = registry.current() or registry.adopt_untracked()
    if current is None or not current.exists():
        raise ModelMissing(f"Ingen modell i drift i {settings.models_dir}. Kjør `veiviser train` først.")
    registry.verify(current)
    return current


def is_stale(settings: Settings) -> bool:
    """True when there is no model or a training file is newer than the newest model."""
    model = newest_model(settings.models_dir)
    if model is None:
        return True
    built = model.stat().st_mtime
    return any(f.stat().st_mtime > built for f in settings.training_inputs if f.exists())


def train(settings: Settings, force: bool = False, config: Path | None = None) -> Path:
    """Train NLU and rules from `config.yml`, `domain/` and `nlu/`; Rasa shows its progress.
    The archive is recorded with its SHA-256; the first model ever trained goes into service, later
    ones wait for `veiviser promote`."""
    from bot.registry import ModelRegistry

    from rasa.model_training import train as rasa_train

    settings.models_dir.mkdir(parents=True, exist_ok=True)
    result = rasa_train(
        domain=str(settings.root / "domain"),
        config=str(config or settings.root / "config.yml"),
        training_files=[str(settings.root / "nlu")],
        output=str(settings.models_dir),
        force_training=force,
    )
    if result.code != 0 or not result.model:
        raise RuntimeError(f"Training failed (code {result.code})")
    model = Path(result.model)
    model.touch()  # an unchanged fingerprint reuses the old archive: mark it as the newest
    registry = ModelRegistry(settings.models_dir)
    registry.record(model)
    if registry.current() is None:
        registry.set_current(model, by="train", action="first")
    return model
