"""Loose matching of analysts' answers against the choices a dataset offers.

Answers arrive as raw text (the form's slots are mapped `from_text`), so this module decides
what "ad Adamawa State", "Adamwa", "2", "only primary" or a button payload mean. It is pure
Python (plus rapidfuzz) so it can be tested without Rasa.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence

from rapidfuzz import fuzz, process

LEVEL_ORDER = ("primary", "secondary", "tertiary", "all")
AGE_ORDER = ("u5", "o5", "pw", "all")

LEVEL_LABELS = {
    "primary": "Primary",
    "secondary": "Secondary",
    "tertiary": "Tertiary",
    "all": "All facilities",
}
AGE_LABELS = {"u5": "Under 5", "o5": "Over 5", "pw": "Pregnant women", "all": "All ages"}

NIGERIAN_STATES = (
    "Abia", "Adamawa", "Akwa Ibom", "Anambra", "Bauchi", "Bayelsa", "Benue", "Borno",
    "Cross River", "Delta", "Ebonyi", "Edo", "Ekiti", "Enugu", "Federal Capital Territory",
    "Gombe", "Imo", "Jigawa", "Kaduna", "Kano", "Katsina", "Kebbi", "Kogi", "Kwara", "Lagos",
    "Nasarawa", "Niger", "Ogun", "Ondo", "Osun", "Oyo", "Plateau", "Rivers", "Sokoto", "Taraba",
    "Yobe", "Zamfara",
)  # fmt: skip

# Spellings that no fuzzy score finds: official names versus what analysts type.
STATE_ALIASES = {
    "fct": ("federal capital territory", "fct", "abuja"),
    "abuja": ("federal capital territory", "fct", "abuja"),
    "federal capital territory": ("federal capital territory", "fct", "abuja"),
    "nassarawa": ("nasarawa",),
    "akwaibom": ("akwa ibom",),
    "crossriver": ("cross river",),
}

_LEVEL_WORDS: dict[str, tuple[str, ...]] = {
    "primary": ("primary", "phc", "phcs", "health post", "health centre", "health center"),
    "secondary": ("secondary", "general hospital", "general hospitals", "cottage hospital"),
    "tertiary": ("tertiary", "teaching hospital", "teaching hospitals", "federal medical"),
    "all": ("all", "every", "everything", "both", "any", "total", "combined", "whole"),
}
_AGE_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    ("pw", re.compile(r"\b(pregnan\w*|pw|anc|antenatal|expectant|mothers?)\b")),
    (
        "u5",
        re.compile(
            r"(\bunder[\s-]*(5|five)s?\b|\bu[\s-]?5s?\b|<\s*5|\b0\s*-\s*4\b|\bbelow\s*(5|five)\b"
            r"|\bless than\s*(5|five)\b|\bchild(ren)?\b|\bkids?\b|\binfants?\b"
            r"|\bunder[\s-]*fives?\b)"
        ),
    ),
    (
        "o5",
        re.compile(
            r"(\bover[\s-]*(5|five)s?\b|\bo[\s-]?5s?\b|>\s*=?\s*5|\babove\s*(5|five)\b"
            r"|\b(5|five)\s*(years\s*)?(and|&)\s*(above|over|older)\b|\bolder\b|\badults?\b"
            r"|\bgreater than\s*(5|five)\b)"
        ),
    ),
    ("all", re.compile(r"\b(all|every\w*|total|combined|whole|both)\b")),
]

_YES = {
    "yes", "y", "yeah", "yep", "yup", "ya", "ok", "okay", "k", "kk", "sure", "correct", "right",
    "proceed", "continue", "confirm", "confirmed", "alright", "fine", "good", "perfect", "go",
    "exactly", "absolutely", "definitely", "true", "yes.", "affirmative",
}  # fmt: skip
_NO = {
    "no", "n", "nope", "nah", "wrong", "incorrect", "not", "don't", "dont", "false", "negative",
    "never",
}  # fmt: skip
_ORDINALS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
    "eighth": 8, "ninth": 9, "tenth": 10, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
}  # fmt: skip
_OPTION = re.compile(
    r"^\s*(?:(?:option|number|no\.?|choice|#|num)\s*)?(\d{1,2})\s*[.):]?\s*$", re.IGNORECASE
)
_ORDINAL = re.compile(
    r"^\s*(?:the\s+)?(first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|last)"
    r"(?:\s+(?:one|option|choice))?\s*$",
    re.IGNORECASE,
)
_PAYLOAD = re.compile(r"^\s*/(\w+)(\{.*\})?\s*$", re.DOTALL)
_PREFIX = re.compile(r"^[a-z]{2}\s+(?=\S)")
_FILLER = re.compile(
    r"\b(analy[sz]e|analy[sz]is|state|please|pls|now|the|let'?s|lets|do|go|with|for|select|choose|"
    r"i|want|would|like|to|same|instead|just|only|use|try|run|it|switch|check|show|me|what|about|"
    r"how|tpr|calculate|of|in|on|and|data|is|pick|take)\b"
)
_NON_WORD = re.compile(r"[^\w\s'<>=-]+")
_SPACES = re.compile(r"\s+")


def normalise(text: str) -> str:
    """Casefold, drop punctuation, collapse spaces."""
    return _SPACES.sub(" ", _NON_WORD.sub(" ", text.casefold())).strip()


def _key(name: str) -> str:
    return normalise(name)


def parse_payload(text: str) -> tuple[str, dict[str, str]] | None:
    """`/inform{"state": "Adamawa"}` -> ("inform", {"state": "Adamawa"}); plain text -> None."""
    found = _PAYLOAD.match(text or "")
    if not found:
        return None
    entities: dict[str, str] = {}
    if found.group(2):
        try:
            loaded = json.loads(found.group(2))
        except ValueError:
            loaded = {}
        if isinstance(loaded, dict):
            entities = {str(k): str(v) for k, v in loaded.items() if v is not None}
    return found.group(1), entities


def parse_option_number(text: str, option_count: int) -> int | None:
    """`2`, `option 2`, `2.`, `the second one`, `last` -> 1-based option number, if in range."""
    number: int | None = None
    found = _OPTION.match(text or "")
    if found:
        number = int(found.group(1))
    else:
        ordinal = _ORDINAL.match(text or "")
        if ordinal:
            word = ordinal.group(1).lower()
            number = option_count if word == "last" else _ORDINALS[word]
    if number is not None and 1 <= number <= option_count:
        return number
    return None


def match_choice_by_number(text: str, choices: Sequence[str]) -> str | None:
    """The choice an option number points at, using the order the question showed."""
    number = parse_option_number(text, len(choices))
    return choices[number - 1] if number else None


def match_state(
    text: str, states: Sequence[str], hints: Iterable[str] = (), numbered: bool = True
) -> str | None:
    """The one state of `states` the answer means, or None when unknown or ambiguous.

    Tries, in order: option number, exact name (case, " State" suffix and the two-letter DHIS2
    prefix ignored), aliases (FCT/Abuja), a state named inside a longer sentence, a prefix of
    one state, and finally a rapidfuzz score that is high and unambiguous. `hints` are entity
    values from NLU or a button payload; they are tried first.
    """
    if not states:
        return None
    by_key = {_key(s): s for s in states}
    for hint in hints:
        found = _match_state_text(str(hint), by_key)
        if found:
            return found
    if numbered:
        picked = match_choice_by_number(text, list(states))
        if picked:
            return picked
    return _match_state_text(text, by_key)


def _match_state_text(text: str, by_key: dict[str, str]) -> str | None:
    cleaned = normalise(text)
    if not cleaned:
        return None
    candidates = [cleaned]
    no_prefix = _PREFIX.sub("", cleaned)
    if no_prefix != cleaned:
        candidates.append(no_prefix)
    for candidate in list(candidates):
        without_state = re.sub(r"\s+state$", "", candidate).strip()
        candidates.append(without_state)
        candidates.append(_SPACES.sub(" ", _FILLER.sub(" ", candidate)).strip())
    candidates = [c for c in dict.fromkeys(candidates) if c]

    # exact names and aliases
    for candidate in candidates:
        if candidate in by_key:
            return by_key[candidate]
        squashed = candidate.replace(" ", "").replace("-", "")
        for alias in STATE_ALIASES.get(squashed, STATE_ALIASES.get(candidate, ())):
            if alias in by_key:
                return by_key[alias]
        for key, name in by_key.items():
            if key.replace(" ", "").replace("-", "") == squashed:
                return name

    # a state named inside a longer sentence ("let's analyze Kwara state")
    named = {name for key, name in by_key.items() if re.search(rf"\b{re.escape(key)}\b", cleaned)}
    for alias_word, aliases in STATE_ALIASES.items():
        if re.search(rf"\b{re.escape(alias_word)}\b", cleaned):
            named.update(by_key[a] for a in aliases if a in by_key)
    if len(named) == 1:
        return named.pop()
    if len(named) > 1:
        return None

    core = _SPACES.sub(" ", _FILLER.sub(" ", no_prefix)).strip() or no_prefix
    # a prefix of exactly one state ("kwa", "adam"); at least 3 letters to avoid noise
    if len(core) >= 3:
        prefixed = [name for key, name in by_key.items() if key.startswith(core)]
        if len(prefixed) == 1:
            return prefixed[0]

    # misspellings: a clear winner by a good margin
    return _fuzzy_unique(core, by_key) or _fuzzy_tokens(cleaned, by_key)


def _fuzzy_unique(text: str, by_key: dict[str, str], cutoff: float = 78.0) -> str | None:
    if len(text) < 3:
        return None
    scored = process.extract(text, list(by_key), scorer=fuzz.ratio, limit=2)
    if not scored or scored[0][1] < cutoff:
        return None
    if len(scored) > 1 and scored[1][1] >= scored[0][1] - 8:
        return None
    return by_key[scored[0][0]]


def _fuzzy_tokens(text: str, by_key: dict[str, str]) -> str | None:
    """A misspelt state inside a sentence: score each word and word pair."""
    words = [w for w in _FILLER.sub(" ", text).split() if len(w) >= 4]
    pieces = words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]
    found = {_fuzzy_unique(piece, by_key, cutoff=82.0) for piece in pieces}
    found.discard(None)
    return found.pop() if len(found) == 1 else None


def match_level(text: str, choices: Sequence[str], hints: Iterable[str] = ()) -> str | None:
    """Canonical facility level (`primary|secondary|tertiary|all`) an answer means, if offered.

    Returns a level even when it is not in `choices` only via `mentioned_level`; here the
    answer must be one of the offered choices.
    """
    level = mentioned_level(text, hints, choices)
    return level if level in choices else None


def mentioned_level(
    text: str, hints: Iterable[str] = (), choices: Sequence[str] | None = None
) -> str | None:
    """The level an answer names, offered or not (so the bot can say it is not in the file)."""
    return _mentioned(_level_from_words, text, hints, choices)


def _mentioned(
    from_words: Callable[[str], str | None],
    text: str,
    hints: Iterable[str],
    choices: Sequence[str] | None,
) -> str | None:
    """The value the hints, else a numbered choice, else the answer's words name."""
    for hint in hints:
        value = from_words(normalise(str(hint)))
        if value:
            return value
    if choices:
        picked = match_choice_by_number(text, list(choices))
        if picked:
            return picked
    return from_words(normalise(text))


def _level_from_words(cleaned: str) -> str | None:
    if not cleaned:
        return None
    specific = [
        level
        for level in ("primary", "secondary", "tertiary")
        if any(re.search(rf"\b{re.escape(w)}", cleaned) for w in _LEVEL_WORDS[level])
    ]
    if len(specific) == 1 and not re.search(r"\b(and|both|plus)\b", cleaned):
        return specific[0]
    if specific or any(re.search(rf"\b{w}\b", cleaned) for w in _LEVEL_WORDS["all"]):
        return "all"
    # misspellings of one word ("prmary", "secondry")
    for word in cleaned.split():
        if len(word) >= 5:
            best = process.extractOne(
                word, ["primary", "secondary", "tertiary"], scorer=fuzz.ratio, score_cutoff=75
            )
            if best:
                return best[0]
    return None


def match_age(text: str, choices: Sequence[str], hints: Iterable[str] = ()) -> str | None:
    """Canonical age group (`u5|o5|pw|all`) an answer means, if offered."""
    age = mentioned_age(text, hints, choices)
    return age if age in choices else None


def mentioned_age(
    text: str, hints: Iterable[str] = (), choices: Sequence[str] | None = None
) -> str | None:
    """The age group an answer names, offered or not."""
    return _mentioned(_age_from_words, text, hints, choices)


def _age_from_words(cleaned: str) -> str | None:
    if not cleaned:
        return None
    if cleaned in AGE_ORDER:
        return cleaned
    for value, pattern in _AGE_PATTERNS:
        if pattern.search(cleaned):
            return value
    for word in cleaned.split():
        if len(word) >= 6 and fuzz.ratio(word, "pregnant") >= 75:
            return "pw"
    return None


def yes_or_no(text: str, intent: str | None = None) -> bool | None:
    """True for yes/ok/sure/proceed..., False for no/nope..., None when it is neither."""
    cleaned = normalise(text)
    words = cleaned.split()
    if words:
        if words[0] in _NO or cleaned.startswith(("no ", "not ")):
            return False
        if words[0] in _YES or "proceed" in words or "go ahead" in cleaned:
            return True
    if intent == "affirm":
        return True
    if intent == "deny":
        return False
    return None


_ALL_LEVELS = re.compile(
    r"\b(all|every|any|both)\s+(the\s+)?(health\s+)?(facilit\w*|levels?|hospitals?|types?)\b"
)
_ALL_AGES = re.compile(
    r"\b(all\s+(the\s+)?ages?|all\s+age\s+groups?|every\s*(one|body)|all\s+people|"
    r"total\s+population|all\s+groups?)\b"
)


def reselection(text: str, hints: dict[str, list[str]]) -> dict[str, str]:
    """Level and age group named in a follow-up ("now pregnant women", "same for all
    facilities"). Stricter than inside the form: a bare "all" names neither, because outside
    the form there is no question saying which one it answers.
    """
    cleaned = normalise(text)
    found: dict[str, str] = {}
    for hint in hints.get("facility_level", []):
        level = _level_from_words(normalise(hint))
        if level:
            found["facility_level"] = level
            break
    else:
        if _ALL_LEVELS.search(cleaned):
            found["facility_level"] = "all"
        else:
            level = _level_from_words(
                re.sub(r"\b(all|every\w*|total|combined|whole|both|any)\b", " ", cleaned)
            )
            if level and level != "all":
                found["facility_level"] = level
    for hint in hints.get("age_group", []):
        age = _age_from_words(normalise(hint))
        if age:
            found["age_group"] = age
            break
    else:
        if _ALL_AGES.search(cleaned):
            found["age_group"] = "all"
        else:
            age = _age_from_words(cleaned)
            if age and age != "all":
                found["age_group"] = age
    return found
