"""Maintenance commands a maintainer runs without a developer: review, retrain, evaluate, promote."""
