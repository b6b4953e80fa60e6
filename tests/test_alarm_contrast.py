"""Every alarm text keeps a contrast of at least 4.5:1 (WCAG AA) against its background, in
both phases of its flash, computed from the stylesheet and the model's priority colours."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from monitor.model import PRIORITY

CSS = (Path(__file__).resolve().parents[1] / "assets" / "monitor.css").read_text(encoding="utf-8")
VARS = {f"--{p}": PRIORITY[p].colour for p in PRIORITY} | dict(re.findall(r"(--[\w-]+):\s*(#[0-9a-fA-F]{3,6})", CSS))


def colour(value: str) -> str:
    value = value.strip()
    m = re.fullmatch(r"var\((--[\w-]+)\)", value)
    return VARS[m.group(1)] if m else value


def luminance(hex_colour: str) -> float:
    h = hex_colour.lstrip("#")
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    def channel(c: int) -> float:
        c = c / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (channel(int(h[i:i + 2], 16)) for i in (0, 2, 4))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    la, lb = sorted((luminance(colour(a)), luminance(colour(b))), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def rule(selector: str) -> dict:
    body = re.search(r"(?:^|\})\s*" + re.escape(selector) + r"\s*\{([^}]*)\}", CSS, re.M).group(1)
    return dict((k.strip(), v.strip()) for k, v in (d.split(":", 1) for d in body.split(";") if ":" in d))


def phases(name: str) -> list[dict]:
    body = re.search(r"@keyframes " + name + r"\s*\{(.*?)\}\s*\}", CSS, re.S).group(1) + "}"
    return [dict((k.strip(), v.strip()) for k, v in (d.split(":", 1) for d in part.split(";") if ":" in d))
            for part in re.findall(r"\{([^}]*)\}", body)]


@pytest.mark.parametrize("selector,animation", [
    (".alarm-high", "flash-high"), (".alarm-medium", "flash-medium"), (".alarm-low", None),
    (".tile-high .tile-alarm-text", "flash-high"), (".tile-medium .tile-alarm-text", "flash-medium"),
    (".tile-low .tile-alarm-text", None),
    (".alarm-technical.alarm-medium", None), (".alarm-technical.alarm-low", None),
])
def test_alarm_text_contrast_in_both_flash_phases(selector, animation):
    base = rule(selector)
    frames = [{**base, **f} for f in phases(animation)] if animation else [base]
    for f in frames:
        assert contrast(f["color"], f["background"]) >= 4.5, (selector, f)


def test_a_grey_note_inside_a_filled_alarm_banner_takes_the_banners_colour():
    assert rule(".tile-alarm-text .muted")["color"] == "inherit"
