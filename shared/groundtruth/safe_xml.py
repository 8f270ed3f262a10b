"""Untrusted XML into an ElementTree, refusing every DTD before anything in it is expanded.

Ground truth comes from outside (archives, other tools, users). PAGE XML and ALTO need no
DTD, so any ``<!DOCTYPE`` is refused the moment expat meets it: no entity is declared, none
expanded (billion laughs) and no external one fetched (XXE). Tags and attribute names come out
as ElementTree writes them, ``{namespace}local``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from xml.parsers import expat

from shared.groundtruth.model import GroundTruthError

_SEPARATOR = "}"  # expat writes "namespace}local"; ElementTree wants "{namespace}local"


def parse_xml(data: bytes) -> ET.Element:
    """The root element of an XML document that declares no DTD.

    Args:
        data: The document's bytes, in any encoding expat reads (UTF-8, UTF-16 with a BOM,
            ISO-8859-1, or what its XML declaration names).

    Returns:
        The root element, comments and processing instructions left out.

    Raises:
        GroundTruthError: ``unsafe_xml`` for a document with a DOCTYPE, an entity declaration
            or an external entity reference; ``malformed_xml`` for one that is not well
            formed, with the line and column where expat stopped.
    """
    builder = ET.TreeBuilder()
    parser = _parser(builder)
    try:
        parser.Parse(data, True)
    except expat.ExpatError as e:
        reason = expat.ErrorString(e.code) or str(e)
        raise GroundTruthError(
            "malformed_xml", f"line {e.lineno}, column {e.offset + 1}: {reason}"
        ) from e
    return builder.close()


def _parser(builder: ET.TreeBuilder) -> expat.XMLParserType:
    parser = expat.ParserCreate(namespace_separator=_SEPARATOR)
    parser.buffer_text = True
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse_doctype
    parser.EntityDeclHandler = _refuse_entity
    parser.UnparsedEntityDeclHandler = _refuse_entity
    parser.ExternalEntityRefHandler = _refuse_external_entity

    def start(name: str, attributes: dict[str, str]) -> None:
        builder.start(_qualified(name), {_qualified(k): v for k, v in attributes.items()})

    parser.StartElementHandler = start
    parser.EndElementHandler = lambda name: builder.end(_qualified(name))
    parser.CharacterDataHandler = builder.data
    return parser


def _qualified(name: str) -> str:
    return "{" + name if _SEPARATOR in name else name


def _refuse_doctype(name: str, *_: object) -> None:
    # Raising inside a handler stops expat at once, before the internal subset is read.
    raise GroundTruthError("unsafe_xml", f"a DOCTYPE ({name}) is not allowed")


def _refuse_entity(name: str, *_: object) -> None:
    raise GroundTruthError("unsafe_xml", f"an entity declaration ({name}) is not allowed")


def _refuse_external_entity(
    _context: str, _base: str | None, system_id: str | None, _public_id: str | None
) -> int:
    raise GroundTruthError("unsafe_xml", f"an external entity ({system_id}) is not allowed")
