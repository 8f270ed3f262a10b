"""Check an SBOM written by `make sbom`: CycloneDX, about quire, every installed distribution
listed with its version (run with the venv's python, whose installed set it compares)."""

from __future__ import annotations

import json
import sys
from importlib import metadata
from pathlib import Path


def canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def main(path: str) -> int:
    bom = json.loads(Path(path).read_text())
    problems = []
    if bom.get("bomFormat") != "CycloneDX":
        problems.append(f"bomFormat is {bom.get('bomFormat')!r}, not CycloneDX")
    if bom.get("metadata", {}).get("component", {}).get("name") != "quire":
        problems.append("the SBOM's main component is not quire")
    listed = {canonical(c["name"]): c.get("version") for c in bom.get("components", [])}
    for dist in metadata.distributions():
        name = canonical(dist.metadata["Name"])
        if name in ("quire", "pip", "setuptools", "wheel"):
            continue
        if listed.get(name) != dist.version:
            problems.append(f"{name} {dist.version} is installed, the SBOM has {listed.get(name)}")
    for problem in problems:
        print(f"sbom: {problem}", file=sys.stderr)
    if not problems:
        print(f"sbom: {path}: CycloneDX {bom.get('specVersion')}, {len(listed)} components")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
