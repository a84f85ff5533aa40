"""The reference pages in docs/: nothing app/config.py reads goes undocumented, and each page says what it covers.

The list of variables comes from app/config.py itself (every environment variable name it holds, and every setting
config.describe() reports with its default), so a new setting fails this test until docs/configuration.md has it.
"""

import ast
import re

import pytest

from app import config
from harness import ROOT

DOCS = ROOT / "docs"
CONFIGURATION = DOCS / "configuration.md"
VARIABLE = r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+"


def variables_in_config() -> set[str]:
    tree = ast.parse((ROOT / "app" / "config.py").read_text())
    return {node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and re.fullmatch(VARIABLE, node.value)}


def rows() -> dict[str, list[str]]:
    """Variable -> the cells of the configuration page's table row whose first cell names it."""
    found = {}
    for line in CONFIGURATION.read_text().splitlines():
        if line.startswith("| `"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            for name in re.findall(rf"`({VARIABLE})`", cells[0]):
                found[name] = cells
    return found


def test_every_variable_app_config_reads_has_a_row():
    names = variables_in_config()
    assert len(names) >= 35 and "PSCACHE_PREFETCH" in names and "AWS_SESSION_TOKEN" in names  # the scan works
    missing = sorted(names - rows().keys())
    assert not missing, f"docs/configuration.md has no row for {missing}"


def plain(text: str) -> str:
    return text.replace("`", "").lower()


@pytest.mark.parametrize("name, default", [d[:2] for d in config.describe()], ids=[d[0] for d in config.describe()])
def test_every_setting_is_documented_with_its_default(name, default):
    cells = rows()[name]
    shown = plain(cells[1])
    numbers = re.findall(r"\d[\d/]*", default)
    if " " in default and numbers:  # a default in words: each of its figures, e.g. "1/16" and "67108864"
        assert all(n in shown for n in numbers), (name, default, cells[1])
    else:
        value = default.lower().removesuffix("ms").removesuffix("s").removesuffix("%") if numbers else default
        assert re.match(rf"{re.escape(value)}(?![\w.])", shown), (name, default, cells[1])


@pytest.mark.parametrize("page", sorted(p.name for p in DOCS.glob("*.md")))
def test_each_page_starts_with_a_paragraph_saying_what_it_covers(page):
    blocks = [b.strip() for b in (DOCS / page).read_text().split("\n\n") if b.strip()]
    assert blocks[0].startswith("# ") and "\n" not in blocks[0], page
    first = blocks[1]
    assert not first.startswith(("#", "|", "```", "-", "!")) and len(first) > 150, (page, first[:80])
