"""The XPath subset pan-os-python and pango send (reference section 6).

Absolute, single-slash paths of `name` or `name[pred]` steps, where a predicate is
`@attr=LIT` / `text()=LIT` terms joined by `and` / `or`, and LIT is '..', ".." or concat(..).
Top-level `|` unions and a trailing `/@attr` step are allowed.
Matches carry the chain of ancestors, since ElementTree has no parent pointers.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache


class XPathError(ValueError):
    """The xpath is outside the supported subset or malformed."""


Predicate = Callable[[ET.Element], bool]


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    predicates: tuple[str, ...] = ()
    tests: tuple[Predicate, ...] = field(default=(), compare=False)
    # (attribute, value) when the predicates are exactly one `@attribute=value` term: the common
    # `entry[@name='x']`, matched by a plain comparison instead of the compiled predicate
    key: tuple[str, str] | None = field(default=None, compare=False)

    def matches(self, elem: ET.Element) -> bool:
        return self.name in ("*", elem.tag) and all(t(elem) for t in self.tests)

    def children(self, node: ET.Element) -> list[ET.Element]:
        """The children of `node` this step selects, in document order."""
        if self.key is None:
            return [child for child in node if self.matches(child)]
        attr, value = self.key
        hits = [child for child in node if child.get(attr) == value]
        return hits if self.name == "*" else [child for child in hits if child.tag == self.name]

    def attributes(self) -> dict[str, str]:
        """The attributes a created node needs to satisfy this step (set semantics)."""
        attrs: dict[str, str] = {}
        for text in self.predicates:
            if _split_top(text, " or ")[1:]:
                raise XPathError(f"cannot create a node from predicate [{text}]")
            for term in _split_top(text, " and "):
                lhs, value = _term(term)
                if not lhs.startswith("@"):
                    raise XPathError(f"cannot create a node from predicate [{text}]")
                attrs[lhs[1:]] = value
        return attrs


@dataclass(frozen=True, slots=True)
class Match:
    """One selected node: `chain` runs from the document root to `node` (inclusive)."""

    chain: tuple[ET.Element, ...]
    attribute: str | None = None

    @property
    def node(self) -> ET.Element:
        return self.chain[-1]

    @property
    def parent(self) -> ET.Element | None:
        return self.chain[-2] if len(self.chain) > 1 else None


def _split_top(text: str, sep: str) -> list[str]:
    """Split on `sep` outside quotes, brackets and parentheses."""
    out: list[str] = []
    buf: list[str] = []
    quote: str | None = None
    depth = 0
    i = 0
    while i < len(text):
        c = text[i]
        if quote:
            buf.append(c)
            if c == quote:
                quote = None
            i += 1
            continue
        if c in "'\"":
            quote = c
        elif c in "[(":
            depth += 1
        elif c in "])":
            depth -= 1
            if depth < 0:
                raise XPathError(f"unbalanced brackets in {text!r}")
        if depth == 0 and text.startswith(sep, i):
            out.append("".join(buf))
            buf = []
            i += len(sep)
            continue
        buf.append(c)
        i += 1
    if quote or depth:
        raise XPathError(f"unbalanced quotes or brackets in {text!r}")
    out.append("".join(buf))
    return out


def literal(token: str) -> str:
    """Value of an XPath string literal: 'x', "x" or concat(lit, lit, ..)."""
    token = token.strip()
    if len(token) >= 2 and token[0] == token[-1] and token[0] in "'\"":
        return token[1:-1]
    m = re.fullmatch(r"concat\((.*)\)", token, re.S)
    if m:
        return "".join(literal(part) for part in _split_top(m.group(1), ","))
    raise XPathError(f"bad literal {token!r}")


def _term(term: str) -> tuple[str, str]:
    parts = _split_top(term, "=")
    if len(parts) != 2:
        raise XPathError(f"unsupported predicate term {term!r}")
    lhs = parts[0].strip()
    if not (re.fullmatch(r"@[\w.:-]+", lhs) or lhs == "text()"):
        raise XPathError(f"unsupported predicate term {term!r}")
    return lhs, literal(parts[1])


def _compile_predicate(text: str) -> Predicate:
    alternatives: list[list[tuple[str, str]]] = [
        [_term(t) for t in _split_top(alt, " and ")] for alt in _split_top(text, " or ")
    ]

    if len(alternatives) > 1 and all(len(terms) == 1 for terms in alternatives) \
            and len({terms[0][0] for terms in alternatives}) == 1:
        # `@name='a' or @name='b' or ...` (a client reading many entries at once): one set
        # lookup per element, not one comparison per alternative
        lhs = alternatives[0][0][0]
        values = frozenset(terms[0][1] for terms in alternatives)
        return lambda elem: _value(elem, lhs) in values

    def test(elem: ET.Element) -> bool:
        return any(all(_value(elem, lhs) == v for lhs, v in terms) for terms in alternatives)

    return test


def _key(preds: list[str]) -> tuple[str, str] | None:
    if len(preds) != 1 or _split_top(preds[0], " or ")[1:] or _split_top(preds[0], " and ")[1:]:
        return None
    lhs, value = _term(preds[0])
    return (lhs[1:], value) if lhs.startswith("@") else None


def _value(elem: ET.Element, lhs: str) -> str | None:
    return (elem.text or "") if lhs == "text()" else elem.get(lhs[1:])


def parse(path: str) -> list[Step]:
    """Steps of one absolute path (no unions)."""
    return list(_parse(path))


@lru_cache(maxsize=8192)  # a commit replays thousands of writes to the same few containers
def _parse(path: str) -> tuple[Step, ...]:
    path = path.strip()
    if not path.startswith("/") or path.startswith("//"):
        raise XPathError(f"only absolute paths are supported: {path!r}")
    steps: list[Step] = []
    raw_steps = _split_top(path[1:], "/")
    for index, raw in enumerate(raw_steps):
        m = re.fullmatch(r"(@?[\w.:*-]+)(.*)", raw, re.S)
        if not m:
            raise XPathError(f"bad step {raw!r} in {path!r}")
        name, rest = m.group(1), m.group(2)
        if name.startswith("@") and index != len(raw_steps) - 1:
            raise XPathError("an attribute step must be the last")
        preds: list[str] = []
        while rest:
            if not rest.startswith("["):
                raise XPathError(f"bad step {raw!r}")
            end = _closing_bracket(rest)
            preds.append(rest[1:end])
            rest = rest[end + 1 :]
        steps.append(Step(name, tuple(preds), tuple(_compile_predicate(p) for p in preds), _key(preds)))
    if not steps:
        raise XPathError("empty path")
    return tuple(steps)


def _closing_bracket(text: str) -> int:
    depth = 0
    quote: str | None = None
    for i, c in enumerate(text):
        if quote:
            if c == quote:
                quote = None
        elif c in "'\"":
            quote = c
        elif c == "[":
            depth += 1
        elif c == "]":
            depth -= 1
            if depth == 0:
                return i
    raise XPathError(f"unbalanced brackets in {text!r}")


def alternatives(xpath: str) -> list[str]:
    """The paths of a top-level union."""
    return [p.strip() for p in _split_top(xpath, "|")]


def select(root: ET.Element, xpath: str) -> list[Match]:
    """All matches of `xpath` below `root`, a holder element whose child is <config>."""
    out: list[Match] = []
    for alt in alternatives(xpath):
        out.extend(_select_steps(root, parse(alt)))
    return out


def _select_steps(root: ET.Element, steps: list[Step]) -> Iterator[Match]:
    current: list[tuple[ET.Element, ...]] = [(root,)]
    for step in steps:
        if step.name.startswith("@"):
            attr = step.name[1:]
            for chain in current:
                if chain[-1].get(attr) is not None:
                    yield Match(chain, attr)
            return
        current = [(*chain, child) for chain in current for child in step.children(chain[-1])]
    for chain in current:
        yield Match(chain)


def ensure(root: ET.Element, xpath: str, created: list[ET.Element] | None = None) -> tuple[ET.Element, ...]:
    """The chain to the node at `xpath`, creating missing nodes (set semantics); the nodes it
    created are appended to `created`."""
    chain: tuple[ET.Element, ...] = (root,)
    for step in parse(xpath):
        if step.name == "*" or step.name.startswith("@"):
            raise XPathError(f"cannot create node {step.name!r}")
        found = step.children(chain[-1])
        if len(found) > 1:
            raise XPathError("xpath is not unique")
        node = found[0] if found else ET.SubElement(chain[-1], step.name, step.attributes())
        if not found and created is not None:
            created.append(node)
        chain = (*chain, node)
    return chain


def split_last(xpath: str) -> tuple[str, Step]:
    """The parent path and the last step of a single (non-union) path."""
    raw = _split_top(xpath.strip()[1:], "/")
    last = parse("/" + raw[-1])[0]
    return "/" + "/".join(raw[:-1]), last


def quote(value: str) -> str:
    """An XPath literal for `value`, as pan-os-python's _xpath_safe writes it."""
    if "'" not in value:
        return f"'{value}'"
    if '"' not in value:
        return f'"{value}"'
    parts = value.split("'")
    pieces: list[str] = []
    for i, part in enumerate(parts):
        if i:
            pieces.append('"\'"')
        if part:
            pieces.append(f"'{part}'")
    return "concat(" + ", ".join(pieces) + ")"
