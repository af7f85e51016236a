"""What the driver needs to know of a model to plan a run and fingerprint its store."""

from __future__ import annotations

import dataclasses

from ntscale.errors import ConfigError


def describe_model(source: str) -> dict:
    """{"name", "digest", "config": hyperparameters} of a model.

    Uses `ntscale.model.describe` (hyperparameters + checkpoint digest, parameters not
    loaded) so a driver can plan a 2.5B-parameter run without holding its weights.
    """
    from ntscale.model import describe

    info = describe(source)
    return {"name": info.name, "digest": info.digest, "config": dataclasses.asdict(info.config)}


def resolve_layers(requested: tuple[int, ...], info: dict, *, source: str) -> tuple[int, ...]:
    """The layers to keep: sorted, without repeats, default the last; unknown ones refused."""
    num_layers = int(info["config"]["num_layers"])
    layers = tuple(sorted(set(requested))) or (num_layers,)
    bad = [layer for layer in layers if layer > num_layers]
    if bad:
        raise ConfigError(
            f"layers {bad} do not exist in model {source!r}: it has layers 1..{num_layers}"
        )
    return layers


def model_attrs(info: dict, *, source: str, dtype: str) -> dict:
    """The `model` root attribute of a store: identity, hyperparameters and compute dtype."""
    return {
        "name": info["name"],
        "source": source,
        "hyperparameters": info["config"],
        "checkpoint_digest": info["digest"],
        "dtype": dtype,
    }
