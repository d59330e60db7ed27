"""The locked environments agree with pyproject.toml (uv.lock itself is enforced by ``uv sync --locked``)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
LOWEST_EXTRAS = ("dev", "postgres", "redis")  # what scripts/lock.sh compiles at the floor


def _direct_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    texts = list(project["dependencies"])
    for extra in LOWEST_EXTRAS:
        texts += project["optional-dependencies"][extra]
    return [Requirement(text) for text in texts]


def _pins(path: Path) -> dict[str, Version]:
    pins = re.findall(r"^([A-Za-z0-9_.\-]+)==([^\s\\]+)", path.read_text(), flags=re.MULTILINE)
    return {canonicalize_name(name): Version(version) for name, version in pins}


def test_lowest_requirements_pin_every_direct_dependency_inside_its_range() -> None:
    """A floor raised in pyproject.toml without `bash scripts/lock.sh` leaves the lowest job testing a version
    the range no longer allows (or none): this names the package to re-lock."""
    pins = _pins(ROOT / "scripts" / "lowest-requirements.txt")
    for req in _direct_requirements():
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is missing from scripts/lowest-requirements.txt: run bash scripts/lock.sh"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"{req.name}=={pins[name]} is outside {req.specifier}: run bash scripts/lock.sh"
        )


def test_lowest_requirements_sit_at_the_floor_release_line() -> None:
    """lowest-direct means the floor itself (or its first installable patch), never a newer minor release."""
    pins = _pins(ROOT / "scripts" / "lowest-requirements.txt")
    for req in _direct_requirements():
        floors = [Version(spec.version) for spec in req.specifier if spec.operator == ">="]
        if floors:
            pinned, floor = pins[canonicalize_name(req.name)], floors[0]
            line = (*floor.release, 0)[:2]
            assert (*pinned.release, 0)[:2] == line, f"{req.name}: pinned {pinned}, floor {floor}"


def test_uv_itself_is_pinned_by_hash() -> None:
    """setup.sh installs uv with --require-hashes: the bootstrap file pins one version with hashes."""
    text = (ROOT / "scripts" / "uv-requirements.txt").read_text()
    assert len(re.findall(r"^uv==\d+\.\d+\.\d+", text, flags=re.MULTILINE)) == 1
    assert "--hash=sha256:" in text
