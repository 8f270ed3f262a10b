"""Walking a ground-truth document's element tree (shared by the PAGE and ALTO readers)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator


def lines_in_containers(
    page: ET.Element, line_tag: str, container_tag: str, id_attribute: str
) -> Iterator[tuple[ET.Element, str | None]]:
    """Every ``line_tag`` element in document order, with the id of the innermost
    ``container_tag`` element holding it (None outside any), at any nesting depth."""
    stack: list[tuple[ET.Element, str | None]] = [(child, None) for child in reversed(page)]
    while stack:
        element, container_id = stack.pop()
        if element.tag == line_tag:
            yield element, container_id
            continue
        if element.tag == container_tag:
            container_id = element.get(id_attribute) or container_id
        stack.extend((child, container_id) for child in reversed(element))
