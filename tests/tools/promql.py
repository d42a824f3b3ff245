"""What PromQL in the project (alert rules, the Grafana dashboard) may use: the series the
operator exports, and the metric names an expression selects."""

from __future__ import annotations

import re

from prometheus_client import REGISTRY

import tierkeeper.metrics  # noqa: F401  (registers the operator's metrics)

# The series a family of each type exposes in Prometheus' text format (without the
# `_created` samples, which no query should use).
SUFFIXES = {
    "counter": ("_total",),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum"),
    "summary": ("", "_count", "_sum"),
    "info": ("_info",),
}
# What Prometheus itself records for every target it scrapes (whether the operator is up).
PER_TARGET = {"up"}
# Words of PromQL that are neither metrics nor functions.
KEYWORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring"}
KEYWORDS |= {"group_left", "group_right", "inf", "nan", "atan2"}


def exported_series() -> set[str]:
    """Every series name the operator process exports, from the registry it serves."""
    return {
        family.name + suffix for family in REGISTRY.collect() for suffix in SUFFIXES[family.type]
    }


def metric_names(expr: str) -> set[str]:
    """The metric names `expr` selects: identifiers outside strings, label matchers,
    ranges and grouping lists that are neither keywords nor called as functions."""
    names = set(re.findall(r"""__name__\s*=\s*["']([^"']+)["']""", expr))
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    text = re.sub(r"\{[^}]*\}", "", text)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", text)
    for match in re.finditer(r"(?<![\w.$])[a-zA-Z_:][\w:]*", text):
        called = text[match.end() :].lstrip().startswith("(")
        if not called and match.group() not in KEYWORDS:
            names.add(match.group())
    return names
