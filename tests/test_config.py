from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Optional

import pytest

from corrtrack.config import ConfigError, config_to_dict, describe, override, param, source_of


@dataclass(frozen=True)
class Example:
    rate: float = param(0.5, "paper")
    count: int = param(3, "our choice")
    mode: Literal["greedy", "hungarian"] = param("greedy", "reference code")
    size: tuple[int, int] = param((2, 3), "our choice")
    flag: bool = param(False, "our choice")
    name: Optional[str] = param(None, "our choice")

    def __post_init__(self) -> None:
        if self.count < 0:
            raise ValueError(f"count must be >= 0, got {self.count}")


def test_override_parses_by_type():
    c = override(Example(), ["rate=0.25", "count=7", "mode=hungarian", "size=4,5", "flag=true", "name=x"])
    assert c == Example(0.25, 7, "hungarian", (4, 5), True, "x")
    assert override(c, {"name": "none"}).name is None


@pytest.mark.parametrize(
    "item",
    ["rate=nan", "rate=abc", "count=1.5", "mode=best", "size=1", "flag=maybe", "nope=1", "rate", "count=-1"],
)
def test_bad_overrides_are_one_line_errors(item):
    with pytest.raises(ConfigError) as err:
        override(Example(), [item])
    assert "\n" not in str(err.value)


def test_fixed_fields_and_sources():
    with pytest.raises(ConfigError):
        override(Example(), ["rate=1"], fixed=["rate"])
    assert source_of(Example(), "mode") == "reference code"
    assert describe(Example())[0] == ("rate", 0.5, "paper")
    d = config_to_dict(Example())
    assert d["values"]["size"] == [2, 3] and d["sources"]["rate"] == "paper"


def test_override_routed_sends_each_setting_to_the_config_that_has_it():
    from corrtrack.config import override_routed

    @dataclass(frozen=True)
    class Other:
        lr: float = param(0.1, "our choice")

    out = override_routed(["lr=0.5", "count=4"], {"a": Example(), "b": Other()})
    assert out["a"].count == 4 and out["b"].lr == 0.5
    assert override_routed({"size": (7, 8)}, {"a": Example()})["a"].size == (7, 8)
    with pytest.raises(ConfigError, match="unknown setting"):
        override_routed(["nope=1"], {"a": Example()})
