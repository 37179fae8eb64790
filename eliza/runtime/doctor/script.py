"""ELIZA script model and parser.

The text format is documented at the top of the bundled ``doctor.txt``.
Parsing is two-pass: the first pass collects directives with their line
numbers, the second compiles patterns and checks cross references (tags and
``=KEY`` targets may be used before they are defined, as in the 1966 script).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

__all__ = ["Atom", "Decomposition", "Keyword", "Phrase", "Reassembly", "Script", "load_script"]

Phrase = tuple[str, ...]

#: Marks the end of a clause in a reflection rule (``reflect you $ = me $``).
END = "$"
#: Reassembly directive: continue with the next keyword on the keystack.
NEWKEY = "newkey"

_WORD = re.compile(r"[\w'-]+")
# A bare number in a reassembly template refers to a decomposition part.
PART_REF = re.compile(r"(?<!\w)(\d+)(?!\w)")
_PATTERN_TOKEN = re.compile(r"\(\s*\*([^()]*)\)|([^\s()]+)|(\S)")


@dataclass(frozen=True, slots=True)
class Atom:
    """One pattern element, i.e. one numbered part of a decomposition.

    ``words`` set: exactly one word from the set.  Otherwise ``count`` words,
    or any number of words when ``count`` is None.
    """

    words: frozenset[str] | None = None
    count: int | None = None


@dataclass(frozen=True, slots=True)
class Reassembly:
    """A template (``text``), a jump to another keyword (``goto``), or NEWKEY."""

    text: str = ""
    goto: str | None = None
    newkey: bool = False


@dataclass(frozen=True, slots=True)
class Decomposition:
    pattern: tuple[Atom, ...]
    reassemblies: tuple[Reassembly, ...]


@dataclass(frozen=True, slots=True)
class Keyword:
    word: str
    rank: int
    decompositions: tuple[Decomposition, ...] = ()
    redirect: str | None = None


@dataclass(frozen=True)
class Script:
    """A parsed, immutable script; safe to share between Doctor instances."""

    initial: str
    final: str
    quit_phrases: frozenset[Phrase]
    pre: Mapping[Phrase, Phrase]
    aliases: Mapping[str, str]
    reflections: Mapping[Phrase, Phrase]
    keywords: Mapping[str, Keyword]
    memory_keyword: str | None
    memory: tuple[Decomposition, ...]
    none: tuple[str, ...]


# ---------------------------------------------------------------- pass one


@dataclass
class _Decomp:
    line: int
    pattern: str
    reasms: list[tuple[int, str]] = field(default_factory=list)


@dataclass
class _Key:
    line: int
    word: str
    rank: int
    redirect: tuple[int, str] | None
    decomps: list[_Decomp] = field(default_factory=list)


def _fail(line: int, message: str) -> ValueError:
    return ValueError(f"line {line}: {message}")


def _words(line: int, text: str, what: str, *, fold: bool = True, end: bool = False) -> Phrase:
    words = tuple((text.casefold() if fold else text).split())
    if not words:
        raise _fail(line, f"{what}: expected at least one word")
    for word in words:
        if not (_WORD.fullmatch(word) or (end and word == END)):
            raise _fail(line, f"{what}: {word!r} is not a word")
    return words


def _equation(line: int, args: str, what: str, *, end: bool = False) -> tuple[Phrase, Phrase]:
    """Parse 'WORDS = WORDS'; the right side keeps the script's spelling (e.g. "I")."""
    left, sep, right = args.partition("=")
    if not sep:
        raise _fail(line, f"{what}: expected 'WORDS = WORDS'")
    return _words(line, left, what, end=end), _words(line, right, what, fold=False, end=end)


class _Parser:
    def __init__(self) -> None:
        self.initial: str | None = None
        self.final: str | None = None
        self.quit: set[Phrase] = set()
        self.pre: dict[Phrase, Phrase] = {}
        self.aliases: dict[str, str] = {}
        self.reflections: dict[Phrase, Phrase] = {}
        self.tags: dict[str, set[str]] = {}
        self.keys: dict[str, _Key] = {}
        self.memory_word: tuple[int, str] | None = None
        self.memory: list[_Decomp] = []
        self.none: list[tuple[int, str]] = []
        # Where decomp/reasm lines go: a keyword, the memory rules or the NONE list.
        self.section: _Key | Literal["memory", "none"] | None = None

    def feed(self, line: int, raw: str) -> None:
        text = raw.strip()
        if not text or text.startswith("#"):
            return
        directive, _, args = text.partition(" ")
        args = " ".join(args.split())
        handler = getattr(self, f"_do_{directive.lower()}", None)
        if handler is None:
            raise _fail(line, f"unknown directive {directive!r}")
        handler(line, args)

    def _do_initial(self, line: int, args: str) -> None:
        if not args or self.initial is not None:
            raise _fail(line, "initial: expected one line of text, once")
        self.initial = args

    def _do_final(self, line: int, args: str) -> None:
        if not args or self.final is not None:
            raise _fail(line, "final: expected one line of text, once")
        self.final = args

    def _do_quit(self, line: int, args: str) -> None:
        self.quit.add(_words(line, args, "quit"))

    def _do_pre(self, line: int, args: str) -> None:
        left, right = _equation(line, args, "pre")
        self.pre[left] = right

    def _do_alias(self, line: int, args: str) -> None:
        left, right = _equation(line, args, "alias")
        if len(left) != 1 or len(right) != 1:
            raise _fail(line, "alias: expected 'WORD = WORD'")
        self.aliases[left[0]] = right[0].casefold()

    def _do_reflect(self, line: int, args: str) -> None:
        left, right = _equation(line, args, "reflect", end=True)
        # Reflection must keep words aligned: parts are slices of the clause.
        if len(left) != len(right):
            raise _fail(line, "reflect: both sides need the same number of words")
        ends = [i for i, word in enumerate(left + right) if word == END]
        if ends and (ends != [len(left) - 1, 2 * len(left) - 1] or len(left) < 2):
            raise _fail(line, f"reflect: {END!r} may only end both sides of a rule")
        self.reflections[left] = right

    def _do_tag(self, line: int, args: str) -> None:
        name, *words = _words(line, args, "tag")
        if not words:
            raise _fail(line, "tag: expected 'NAME WORDS'")
        self.tags.setdefault(name, set()).update(words)

    def _do_key(self, line: int, args: str) -> None:
        parts = args.casefold().split()
        redirect = None
        if parts and parts[-1].startswith("="):
            redirect = (line, parts.pop()[1:])
        if not parts or len(parts) > 2 or not _WORD.fullmatch(parts[0]):
            raise _fail(line, "key: expected 'WORD [RANK] [=KEY]'")
        if len(parts) == 2 and not re.fullmatch(r"-?\d+", parts[1]):
            raise _fail(line, f"key: rank {parts[1]!r} is not an integer")
        word = parts[0]
        if word in self.keys:
            raise _fail(line, f"key: {word!r} is already defined")
        rank = int(parts[1]) if len(parts) == 2 else 0
        self.section = self.keys[word] = _Key(line, word, rank, redirect)

    def _do_memory(self, line: int, args: str) -> None:
        words = _words(line, args, "memory")
        if self.memory_word is not None or len(words) != 1:
            raise _fail(line, "memory: expected one keyword, once")
        self.memory_word = (line, words[0])
        self.section = "memory"

    def _do_none(self, line: int, args: str) -> None:
        if args:
            raise _fail(line, "none: takes no arguments")
        self.section = "none"

    def _do_decomp(self, line: int, args: str) -> None:
        if not args:
            raise _fail(line, "decomp: missing pattern")
        if isinstance(self.section, _Key) and self.section.redirect is None:
            self.section.decomps.append(_Decomp(line, args))
        elif self.section == "memory":
            self.memory.append(_Decomp(line, args))
        else:
            raise _fail(line, "decomp: must follow a 'key' (without '=KEY') or 'memory'")

    def _do_reasm(self, line: int, args: str) -> None:
        if not args:
            raise _fail(line, "reasm: missing text")
        if self.section == "none":
            self.none.append((line, args))
            return
        decomps: list[_Decomp] = []
        if isinstance(self.section, _Key):
            decomps = self.section.decomps
        elif self.section == "memory":
            decomps = self.memory
        if not decomps:
            raise _fail(line, "reasm: must follow a 'decomp' or 'none'")
        decomps[-1].reasms.append((line, args))


# ---------------------------------------------------------------- pass two


def _compile_pattern(decomp: _Decomp, parser: _Parser) -> tuple[Atom, ...]:
    def word_set(line: int, words: list[str]) -> frozenset[str]:
        out: set[str] = set()
        for word in words:
            if word.startswith("/"):
                if word[1:] not in parser.tags:
                    raise _fail(line, f"decomp: unknown tag {word!r}")
                out |= parser.tags[word[1:]]
            elif _WORD.fullmatch(word):
                out.add(word)
            else:
                raise _fail(line, f"decomp: {word!r} is not a word")
        # Input is matched after aliasing ("were" reads as "was"), so patterns must be too.
        return frozenset(parser.aliases.get(word, word) for word in out)

    atoms: list[Atom] = []
    for match in _PATTERN_TOKEN.finditer(decomp.pattern.casefold()):
        choices, token, stray = match.groups()
        if stray is not None:
            raise _fail(decomp.line, f"decomp: unbalanced or misplaced {stray!r}")
        if choices is not None:
            if not choices.split():
                raise _fail(decomp.line, "decomp: empty '(* )' alternative")
            atoms.append(Atom(words=word_set(decomp.line, choices.split())))
        elif token.isdigit():
            count = int(token)
            atoms.append(Atom(count=count if count else None))
        else:
            atoms.append(Atom(words=word_set(decomp.line, [token])))
    return tuple(atoms)


def _compile_reasm(line: int, text: str, parts: int, keys: Mapping[str, _Key]) -> Reassembly:
    if text.casefold() == NEWKEY:
        return Reassembly(newkey=True)
    if text.startswith("="):
        target = text[1:].strip().casefold()
        if target not in keys:
            raise _fail(line, f"reasm: unknown keyword {target!r}")
        return Reassembly(goto=target)
    for ref in PART_REF.findall(text):
        if not 1 <= int(ref) <= parts:
            raise _fail(line, f"reasm: part {ref} does not exist (pattern has {parts})")
    return Reassembly(text=text)


def _compile_decomps(
    decomps: list[_Decomp], parser: _Parser, *, plain: bool = False
) -> tuple[Decomposition, ...]:
    out: list[Decomposition] = []
    for decomp in decomps:
        if not decomp.reasms:
            raise _fail(decomp.line, "decomp: has no 'reasm' lines")
        pattern = _compile_pattern(decomp, parser)
        reasms = tuple(_compile_reasm(n, t, len(pattern), parser.keys) for n, t in decomp.reasms)
        if plain and any(not r.text for r in reasms):
            raise _fail(decomp.line, "memory: reassemblies must be plain text")
        out.append(Decomposition(pattern, reasms))
    return tuple(out)


def _finish(parser: _Parser, last_line: int) -> Script:
    keywords: dict[str, Keyword] = {}
    for key in parser.keys.values():
        if key.redirect is not None:
            line, target = key.redirect
            if target not in parser.keys:
                raise _fail(line, f"key: unknown keyword {target!r}")
            keywords[key.word] = Keyword(key.word, key.rank, redirect=target)
        elif not key.decomps:
            raise _fail(key.line, f"key: {key.word!r} has no 'decomp' lines")
        else:
            keywords[key.word] = Keyword(key.word, key.rank, _compile_decomps(key.decomps, parser))
    memory_word = None
    if parser.memory_word is not None:
        line, memory_word = parser.memory_word
        if memory_word not in keywords:
            raise _fail(line, f"memory: {memory_word!r} is not a keyword")
    memory = _compile_decomps(parser.memory, parser, plain=True)
    for line, text in parser.none:
        if PART_REF.search(text) or text.startswith("=") or text.casefold() == NEWKEY:
            raise _fail(line, "none: reassemblies must be plain text without part numbers")
    # What is missing altogether can only be blamed on the end of the script.
    if parser.initial is None or parser.final is None:
        raise _fail(last_line, "script needs both 'initial' and 'final' lines")
    if not parser.none:
        raise _fail(last_line, "script needs a 'none' section with 'reasm' lines")
    return Script(
        initial=" ".join(parser.initial.split()),
        final=" ".join(parser.final.split()),
        quit_phrases=frozenset(parser.quit),
        pre=MappingProxyType(parser.pre),
        aliases=MappingProxyType(parser.aliases),
        reflections=MappingProxyType(parser.reflections),
        keywords=MappingProxyType(keywords),
        memory_keyword=memory_word,
        memory=memory,
        none=tuple(" ".join(text.split()) for _, text in parser.none),
    )


def load_script(text: str) -> Script:
    """Parse a script; raise ValueError naming the offending line if malformed."""
    parser = _Parser()
    lines = text.splitlines()
    for number, raw in enumerate(lines, start=1):
        parser.feed(number, raw)
    return _finish(parser, max(len(lines), 1))
