"""An annealing tuner for NNI: sample around good trials, in an ever narrower neighbourhood.

``--tuner Anneal`` runs this class as an NNI custom tuner. (NNI 3.0's own ``Anneal`` goes
through hyperopt, which does not work with NumPy 2 and setuptools without
``pkg_resources``.) It imports nothing heavier than NumPy, since NNI's tuner process loads it.

The first `warmup` proposals are drawn from the search space's distributions. After that a
proposal starts from a finished trial picked with a preference for the best ones, and moves
each parameter by a random step whose size shrinks with the number of results (the
*temperature*): a choice is redrawn with a probability equal to the temperature, a numeric
value moves by a normal step of temperature x its range, clipped to the range and rounded
to q.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import Any

import numpy as np
from nni.tuner import Tuner
from nni.utils import extract_scalar_reward

logger = logging.getLogger(__name__)

Params = dict[str, Any]
_LOG_TYPES = ("loguniform", "qloguniform", "lognormal", "qlognormal")


class AnnealTuner(Tuner):
    """NNI tuner; class_args: optimize_mode, seed, warmup (random proposals first), cooling
    (how fast the step size shrinks per result) and top_fraction (share of the results
    that are picked from)."""

    def __init__(self, optimize_mode: str = "maximize", seed: int | None = None,
                 warmup: int = 4, cooling: float = 0.15, top_fraction: float = 0.25):
        if optimize_mode not in ("maximize", "minimize"):
            raise ValueError(f"optimize_mode must be maximize or minimize, got {optimize_mode!r}")
        self._maximize = optimize_mode == "maximize"
        self._rng = np.random.default_rng(seed)
        self._warmup = max(int(warmup), 1)
        self._cooling = float(cooling)
        self._top_fraction = float(top_fraction)
        self._space: dict[str, Mapping[str, Any]] = {}
        self._history: list[tuple[Params, float]] = []

    # ------------------------------------------------------------------ NNI interface
    def update_search_space(self, search_space: Mapping[str, Any]) -> None:
        """Takes the search space (NNI JSON); nested choices are not supported."""
        for key, spec in search_space.items():
            if spec.get("_type") == "choice" and any(
                    isinstance(v, Mapping) and "_name" in v for v in spec["_value"]):
                raise ValueError(f"{key}: nested choices are not supported by AnnealTuner")
        self._space = dict(search_space)

    def generate_parameters(self, parameter_id: int, **kwargs: Any) -> Params:
        """A new proposal: random while warming up, else a move from a good trial."""
        if len(self._history) < self._warmup:
            return {key: sample_prior(spec, self._rng) for key, spec in self._space.items()}
        anchor = self._pick_anchor()
        temperature = self.temperature
        return {key: perturb(spec, anchor.get(key), temperature, self._rng)
                for key, spec in self._space.items()}

    def receive_trial_result(self, parameter_id: int, parameters: Params, value: Any,
                             **kwargs: Any) -> None:
        """Records a finished trial's final metric."""
        reward = float(extract_scalar_reward(value))
        if math.isfinite(reward):
            self._history.append((dict(parameters), reward))

    def import_data(self, data: list[Mapping[str, Any]]) -> None:
        """Results of earlier trials (NNI sends them when an experiment is resumed)."""
        for entry in data:
            self.receive_trial_result(-1, entry["parameter"], entry["value"])
        logger.info("AnnealTuner imported %d earlier results", len(data))

    # ------------------------------------------------------------------ internals
    @property
    def temperature(self) -> float:
        """Step size in (0, 1]: 1 with no results, shrinking as results come in."""
        return 1.0 / (1.0 + self._cooling * max(len(self._history) - self._warmup, 0))

    def _pick_anchor(self) -> Params:
        """A finished trial, the best ones more likely (weights 1, 1/2, 1/3, ... by rank)."""
        ranked = sorted(self._history, key=lambda item: item[1], reverse=self._maximize)
        count = max(1, math.ceil(len(ranked) * self._top_fraction))
        weights = 1.0 / np.arange(1, count + 1)
        index = int(self._rng.choice(count, p=weights / weights.sum()))
        return ranked[index][0]


def sample_prior(spec: Mapping[str, Any], rng: np.random.Generator) -> Any:
    """One value drawn from the parameter's own distribution."""
    kind, values = spec["_type"], spec["_value"]
    if kind == "choice":
        return values[int(rng.integers(len(values)))]
    if kind == "randint":
        return int(rng.integers(int(values[0]), int(values[1])))
    if kind in ("uniform", "quniform"):
        raw = rng.uniform(values[0], values[1])
    elif kind in ("loguniform", "qloguniform"):
        raw = math.exp(rng.uniform(math.log(values[0]), math.log(values[1])))
    elif kind in ("normal", "qnormal"):
        raw = rng.normal(values[0], values[1])
    elif kind in ("lognormal", "qlognormal"):
        raw = math.exp(rng.normal(values[0], values[1]))
    else:
        raise ValueError(f"unsupported parameter type {kind!r}")
    return _finish(spec, float(raw))


def perturb(spec: Mapping[str, Any], current: Any, temperature: float,
            rng: np.random.Generator) -> Any:
    """A value near `current`; steps scale with `temperature` (a fresh draw if unknown)."""
    kind, values = spec["_type"], spec["_value"]
    if current is None:
        return sample_prior(spec, rng)
    if kind == "choice":
        if current not in values or rng.random() < temperature:
            return values[int(rng.integers(len(values)))]
        return current
    if kind == "randint":
        low, high = int(values[0]), int(values[1]) - 1
        step = rng.normal(0.0, max((high - low) * temperature / 2, 0.5))
        return int(min(max(round(current + step), low), high))
    if kind in _LOG_TYPES:
        center = math.log(max(float(current), 1e-300))
        raw = math.exp(center + rng.normal(0.0, _log_scale(kind, values) * temperature))
    else:
        raw = float(current) + rng.normal(0.0, _linear_scale(kind, values) * temperature)
    return _finish(spec, raw)


def _linear_scale(kind: str, values: list[float]) -> float:
    """Step size at temperature 1 for uniform and normal parameters."""
    return (values[1] - values[0]) / 2 if kind in ("uniform", "quniform") else values[1]


def _log_scale(kind: str, values: list[float]) -> float:
    """Step size in log space at temperature 1 for log-scaled parameters."""
    if kind in ("loguniform", "qloguniform"):
        return (math.log(values[1]) - math.log(values[0])) / 2
    return values[1]


def _finish(spec: Mapping[str, Any], raw: float) -> float:
    """Clips a uniform-type value to [low, high] and rounds q-types to a multiple of q."""
    kind, values = spec["_type"], spec["_value"]
    bounded = kind in ("uniform", "quniform", "loguniform", "qloguniform")
    if bounded:
        raw = min(max(raw, values[0]), values[1])
    if kind.startswith("q"):
        raw = round(raw / values[2]) * values[2]
        if bounded:
            raw = min(max(raw, values[0]), values[1])
    return float(raw)
