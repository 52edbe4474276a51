"""The README is a short guide whose links resolve, and every page of docs/ and every example is
part of the documentation site (mkdocs.yml). The site itself is built in strict mode by CI."""
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
LINK = re.compile(r"\]\(([^)\s#]+)(#[^)]*)?\)")


def _nav_pages(node) -> list[str]:
    if isinstance(node, str):
        return [node]
    if isinstance(node, dict):
        return [p for v in node.values() for p in _nav_pages(v)]
    return [p for v in node for p in _nav_pages(v)]


def test_the_readme_is_a_short_guide_that_starts_with_the_two_commands():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 250, len(lines)
    commands = lines[lines.index("```bash") + 1:lines.index("```bash") + 3]
    assert commands[0].startswith("pip install -e . && python scripts/learn_dictionary.py")
    assert commands[1].startswith('pip install -e ".[test]" && python -m pytest -q')


def test_relative_links_of_the_readme_and_contributing_resolve():
    for doc in ("README.md", "CONTRIBUTING.md"):
        targets = [m.group(1) for m in LINK.finditer((ROOT / doc).read_text())
                   if not m.group(1).startswith(("http://", "https://"))]
        assert targets or doc != "README.md"
        missing = [t for t in targets if not (ROOT / t).exists()]
        assert not missing, (doc, missing)


def test_every_page_and_example_is_in_the_site():
    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    nav = set(_nav_pages(config["nav"]))
    pages = {str(p.relative_to(ROOT / "docs")) for p in (ROOT / "docs").rglob("*.md")
             if "generated" not in p.parts}
    assert pages - nav == set(), "pages missing from mkdocs.yml's nav"
    assert {p for p in nav if p.endswith(".md")} <= pages, "nav names pages that do not exist"
    gallery = config["plugins"][1]["gallery"]
    assert gallery["examples_dirs"] == "examples" and gallery["abort_on_example_error"]
    examples = sorted((ROOT / "examples").glob("*.py"))
    assert examples and all(p.name.startswith("plot_") for p in examples), \
        "only examples/plot_*.py run in the build"
