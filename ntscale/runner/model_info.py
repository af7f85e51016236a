"""What the driver needs to know of a model to plan a run and fingerprint its store."""

from __future__ import annotations

import dataclasses


def describe_model(source: str) -> dict:
    """{"name", "digest", "config": hyperparameters} of a model.

    Uses `ntscale.model.describe` (hyperparameters + checkpoint digest, parameters not
    loaded) so a driver can plan a 2.5B-parameter run without holding its weights.
    """
    from ntscale.model import describe

    info = describe(source)
    return {"name": info.name, "digest": info.digest, "config": dataclasses.asdict(info.config)}


def model_attrs(info: dict, *, source: str, dtype: str) -> dict:
    """The `model` root attribute of a store: identity, hyperparameters and compute dtype."""
    return {
        "name": info["name"],
        "source": source,
        "hyperparameters": info["config"],
        "checkpoint_digest": info["digest"],
        "dtype": dtype,
    }
