"""The ELIZA engine (Weizenbaum, CACM 9(1), 1966), driven by a parsed script.

One reply runs the steps of the paper:

1. split the input into clauses at ``. , ; : ! ?`` and the word "but";
   keep the first clause that holds a keyword;
2. rewrite it (``pre`` and ``alias`` rules of the script);
3. stack its keywords by rank, higher first, ties in sentence order;
4. for the top keyword, find the first decomposition rule that matches and
   answer with its next reassembly rule (each rule cycles); ``=KEY`` jumps
   to another keyword's rules, NEWKEY (or no match) moves down the stack;
5. with no usable keyword, recall a remembered reply if there is one
   (stored by the memory rules when the memory keyword was on top), or
   cycle through the NONE replies.
"""

from __future__ import annotations

import functools
import re
import zlib
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources

from .script import END, PART_REF, Atom, Decomposition, Keyword, Phrase, Script, load_script

__all__ = ["Doctor", "bundled_script"]

# Caps so that hostile input stays cheap: matching is polynomial in clause length.
MAX_INPUT_CHARS = 10_000
MAX_CLAUSE_WORDS = 100
MAX_MEMORY = 100
# Bounds chains of "=KEY" jumps, which a script could make circular.
_MAX_HOPS = 16

_TOKEN = re.compile(r"[\w'-]+|[.,;:!?]")
_SENTENCE_END = frozenset(".!?")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'"})


@dataclass(frozen=True, slots=True)
class _Word:
    key: str  # case-folded form used for matching
    text: str  # form echoed back to the user


@functools.cache
def bundled_script() -> Script:
    """The DOCTOR script shipped with the package, parsed once per process."""
    package = __name__.rpartition(".")[0]
    text = resources.files(package).joinpath("doctor.txt").read_text(encoding="utf-8")
    return load_script(text)


def _clauses(text: str) -> list[list[_Word]]:
    """Split raw input into clauses of words; punctuation only delimits."""
    text = text[:MAX_INPUT_CHARS].translate(_APOSTROPHES)
    # All-caps input (teletype style) carries no case information worth echoing.
    cased_input = any(ch.islower() for ch in text)
    clauses: list[list[_Word]] = [[]]
    sentence_start = True
    for match in _TOKEN.finditer(text):
        token = match.group()
        if len(token) == 1 and token in ".,;:!?":
            clauses.append([])
            sentence_start = sentence_start or token in _SENTENCE_END
            continue
        word = token.strip("'-")
        if not word:
            continue
        key = word.casefold()
        if key == "but":
            clauses.append([])
            continue
        # Keep "Paris" or "NASA" as typed, but not a capital that only starts a sentence.
        keep = cased_input and not sentence_start and any(ch.isupper() for ch in word)
        clauses[-1].append(_Word(key, word if keep else word.lower()))
        sentence_start = False
    return [clause for clause in clauses if clause]


def _rewrite(words: Sequence[_Word], rules: Mapping[Phrase, Phrase]) -> list[_Word]:
    """Apply phrase substitutions left to right, longest rule first, once each."""
    longest = max(map(len, rules), default=0)
    out: list[_Word] = []
    i = 0
    while i < len(words):
        for size in range(min(longest, len(words) - i), 0, -1):
            replacement = rules.get(tuple(w.key for w in words[i : i + size]))
            if replacement is not None:
                out.extend(_Word(r.casefold(), r) for r in replacement)
                i += size
                break
        else:
            out.append(words[i])
            i += 1
    return out


def _reflect(words: Sequence[_Word], rules: Mapping[Phrase, Phrase]) -> list[str]:
    """Swap person (I <-> you ...) in one pass, keeping one output word per input word.

    A single pass is what stops "you" -> "I" and "I" -> "you" undoing each other.
    """
    keys = [w.key for w in words] + [END]
    longest = max(map(len, rules), default=0)
    out: list[str] = []
    i = 0
    while i < len(words):
        for size in range(min(longest, len(keys) - i), 0, -1):
            replacement = rules.get(tuple(keys[i : i + size]))
            if replacement is not None:
                out.extend(r for r in replacement if r != END)
                i += size
                break
        else:
            out.append(words[i].text)
            i += 1
    return out


def match(pattern: Sequence[Atom], keys: Sequence[str]) -> list[tuple[int, int]] | None:
    """Match a decomposition pattern; return each part's (start, end) word span.

    Runs of any length take as few words as possible (leftmost reading).
    Failed (atom, position) states are remembered, which keeps the search
    polynomial however many zeros a pattern has.
    """
    n = len(keys)
    spans: list[tuple[int, int]] = []
    failed: set[tuple[int, int]] = set()

    def step(index: int, pos: int) -> bool:
        if index == len(pattern):
            return pos == n
        if (index, pos) in failed:
            return False
        atom = pattern[index]
        if atom.words is not None:
            ends: Sequence[int] = [pos + 1] if pos < n and keys[pos] in atom.words else []
        elif atom.count is not None:
            ends = [pos + atom.count] if pos + atom.count <= n else []
        else:
            ends = range(pos, n + 1)
        for end in ends:
            spans.append((pos, end))
            if step(index + 1, end):
                return True
            spans.pop()
        failed.add((index, pos))
        return False

    return list(spans) if step(0, 0) else None


def _memory_choice(word: str, options: int) -> int:
    # Weizenbaum hashed the last input word to pick a memory rule; crc32 is
    # stable across runs (unlike hash()), which keeps replies deterministic.
    return zlib.crc32(word.encode("utf-8", "surrogatepass")) % options


def _tidy(text: str) -> str:
    """Sentence case, single spaces, no space before or dangling commas at the end."""
    text = " ".join(text.split())
    text = re.sub(r"\s+([,.;:!?])", r"\1", text)
    text = re.sub(r"[,;:]+(?=[.!?]|$)", "", text).strip()
    if not text:
        return ""
    if text[-1] not in ".!?":
        text += "."
    return text[0].upper() + text[1:]


class Doctor:
    """One ELIZA conversation: holds reassembly rotation and the memory queue."""

    def __init__(self, script: Script | None = None) -> None:
        self._script = script if script is not None else bundled_script()
        self._cycle: dict[tuple[str, int], int] = {}
        self._none_turn = 0
        self._memory: deque[str] = deque(maxlen=MAX_MEMORY)

    def initial(self) -> str:
        return self._script.initial

    def final(self) -> str:
        return self._script.final

    def is_quit(self, text: str) -> bool:
        """True when some clause of ``text`` is exactly a quit phrase ("Bye.", "ok, quit")."""
        return self._quits(_clauses(text))

    def _quits(self, clauses: list[list[_Word]]) -> bool:
        phrases = self._script.quit_phrases
        return any(tuple(w.key for w in clause) in phrases for clause in clauses)

    def reply(self, text: str) -> str:
        """`final()` when ``text`` quits, else `respond(text)`; the input is split once."""
        clauses = _clauses(text)
        return self.final() if self._quits(clauses) else self._respond(clauses)

    def respond(self, text: str) -> str:
        return self._respond(_clauses(text))

    def _respond(self, raw: list[list[_Word]]) -> str:
        script = self._script
        clauses = [self._prepare(clause) for clause in raw]
        if not clauses:
            return self._none_reply()
        for clause in clauses:
            stack = self._keystack(clause)
            if stack:
                break
        else:
            return self._fallback()
        reflected = _reflect(clause, script.reflections)
        keys = [w.key for w in clause]
        if stack[0].word == script.memory_keyword:
            self._remember(keys, reflected)
        for keyword in stack:
            reply = self._apply(keyword, keys, reflected, hops=0)
            if reply:
                return reply
        return self._fallback()

    # ------------------------------------------------------------- helpers

    def _prepare(self, clause: list[_Word]) -> list[_Word]:
        script = self._script
        words = _rewrite(clause, script.pre)
        aliases = script.aliases
        words = [_Word(aliases.get(w.key, w.key), w.text) for w in words]
        return words[:MAX_CLAUSE_WORDS]

    def _keystack(self, clause: Sequence[_Word]) -> list[Keyword]:
        found: dict[str, Keyword] = {}
        for word in clause:
            keyword = self._script.keywords.get(word.key)
            if keyword is not None:
                found.setdefault(word.key, keyword)
        # sorted() is stable, so equal ranks keep their order in the sentence.
        return sorted(found.values(), key=lambda k: -k.rank)

    def _apply(
        self, keyword: Keyword, keys: Sequence[str], reflected: Sequence[str], hops: int
    ) -> str | None:
        """Reply from one keyword's rules; None means "try the next keyword"."""
        if hops > _MAX_HOPS:
            return None
        keywords = self._script.keywords
        if keyword.redirect is not None:
            return self._apply(keywords[keyword.redirect], keys, reflected, hops + 1)
        for index, decomp in enumerate(keyword.decompositions):
            spans = match(decomp.pattern, keys)
            if spans is None:
                continue
            rule = decomp.reassemblies[self._turn((keyword.word, index), decomp)]
            if rule.newkey:
                return None
            if rule.goto is not None:
                return self._apply(keywords[rule.goto], keys, reflected, hops + 1)
            return _assemble(rule.text, spans, reflected) or None
        return None

    def _turn(self, slot: tuple[str, int], decomp: Decomposition) -> int:
        turn = self._cycle.get(slot, 0)
        self._cycle[slot] = turn + 1
        return turn % len(decomp.reassemblies)

    def _remember(self, keys: Sequence[str], reflected: Sequence[str]) -> None:
        for decomp in self._script.memory:
            spans = match(decomp.pattern, keys)
            if spans is not None:
                options = decomp.reassemblies
                rule = options[_memory_choice(keys[-1], len(options))]
                reply = _assemble(rule.text, spans, reflected)
                if reply:
                    self._memory.append(reply)
                return

    def _fallback(self) -> str:
        if self._memory:
            return self._memory.popleft()
        return self._none_reply()

    def _none_reply(self) -> str:
        replies = self._script.none
        reply = replies[self._none_turn % len(replies)]
        self._none_turn += 1
        return reply


def _assemble(template: str, spans: Sequence[tuple[int, int]], reflected: Sequence[str]) -> str:
    def part(ref: re.Match[str]) -> str:
        start, end = spans[int(ref.group(1)) - 1]
        return " ".join(reflected[start:end])

    return _tidy(PART_REF.sub(part, template))
