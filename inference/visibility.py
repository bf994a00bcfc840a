"""Which involvement sources a user may see.

Inference knows no readers: an app that holds some sources back (the review's blinding rule) registers
a rule here from its AppConfig.ready. A rule maps series ids to the sources hidden from the user.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection

HiddenSourcesRule = Callable[[Collection[int], object], dict[int, set[str]]]
EVERY_SOURCE = "*"  # a rule's answer hiding every source of a series, models included

_rules: list[HiddenSourcesRule] = []


def hidden_sources_rule_register(rule: HiddenSourcesRule) -> None:
    if rule not in _rules:
        _rules.append(rule)


def is_hidden(source: str, hidden: Collection[str]) -> bool:
    """Is `source` among a series' hidden sources (named, or all of them)?"""
    return EVERY_SOURCE in hidden or source in hidden


def source_hidden(series_id: int, source: str, user) -> bool:
    return is_hidden(source, hidden_sources([series_id], user).get(series_id, set()))


def hidden_sources(series_ids: Collection[int], user) -> dict[int, set[str]]:
    hidden: dict[int, set[str]] = defaultdict(set)
    for rule in _rules:
        for series_id, sources in rule(series_ids, user).items():
            hidden[series_id] |= sources
    return hidden
