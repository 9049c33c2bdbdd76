"""The metric an experiment optimizes: which ones a config produces, reading and ranking it."""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from easy_rec.metrics.evaluator import is_result_key, metric_result_keys
from easy_rec.protos import pipeline_pb2

MODES = ("maximize", "minimize")


def available_metrics(config: pipeline_pb2.EasyRecConfig) -> list[str]:
    """Result keys an evaluation of `config` produces: eval_config's metrics (retrieval ones as
    ``recall@10``, ...) and ``loss``. Multi-task models add ``_<task>`` to each metric key."""
    names: list[str] = []
    for metric in config.eval_config.metrics_set:
        if metric.WhichOneof("metric") is None:
            continue
        for key in metric_result_keys(metric):
            suffix = 0
            while (f"{key}_{suffix}" if suffix else key) in names:
                suffix += 1
            names.append(f"{key}_{suffix}" if suffix else key)
    names.append("loss")
    return names


def check_metric(config: pipeline_pb2.EasyRecConfig, metric: str) -> None:
    """ValueError unless evaluating `config` yields `metric` (and there is an eval input)."""
    which = config.WhichOneof("eval_path")
    if not which or not getattr(config, which):
        raise ValueError("the config has no eval_input_path: trials could not report a metric")
    names = available_metrics(config)
    if not is_result_key(metric, names):
        raise ValueError(f"metric {metric!r} is not computed by this config's eval_config; "
                         f"it computes: {', '.join(names)}")


def metric_value(results: Mapping[str, Any], metric: str) -> float:
    """results[metric] as a finite float; ValueError when missing or not finite."""
    if metric not in results:
        raise ValueError(f"evaluation results have no {metric!r}; they have: "
                         f"{', '.join(sorted(results))}")
    value = results[metric]
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"metric {metric!r} is {value!r}, not a number") from None
    if not math.isfinite(number):
        raise ValueError(f"metric {metric!r} is {number} (training diverged?)")
    return number


def sort_key(value: float | None, maximize: bool) -> tuple[int, float]:
    """Key that sorts the best metric first and missing metrics last."""
    if value is None:
        return (1, 0.0)
    return (0, -value if maximize else value)
