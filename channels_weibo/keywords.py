"""Keyword matching on Chinese text: one Aho-Corasick automaton over every active rule's words.

Chinese has no spaces, so a keyword is a substring, found wherever it occurs ("新款精华液" holds
"精华液"). The automaton finds every word of every rule in one pass over the text, so the cost
grows with the text length and the number of matches, not with the number of rules.
Matching is case-insensitive (Latin letters) and a rule is excluded from a text that contains any
of its exclusions.
"""

from collections import deque
from dataclasses import dataclass, field

from django.db.models import Count, Max


class Automaton:
    """Aho-Corasick over a set of words; `find(text)` returns the set of words present."""

    def __init__(self, words) -> None:
        self.goto: list[dict[str, int]] = [{}]
        self.fail: list[int] = [0]
        self.out: list[list[str]] = [[]]
        for word in {w.lower() for w in words if w}:
            node = 0
            for char in word:
                nxt = self.goto[node].get(char)
                if nxt is None:
                    nxt = len(self.goto)
                    self.goto[node][char] = nxt
                    self.goto.append({})
                    self.fail.append(0)
                    self.out.append([])
                node = nxt
            self.out[node].append(word)
        queue = deque(self.goto[0].values())
        while queue:
            node = queue.popleft()
            for char, child in self.goto[node].items():
                queue.append(child)
                state = self.fail[node]
                while state and char not in self.goto[state]:
                    state = self.fail[state]
                self.fail[child] = self.goto[state].get(char, 0)
                self.out[child] = self.out[child] + self.out[self.fail[child]]

    def find(self, text: str) -> set[str]:
        found: set[str] = set()
        node = 0
        goto, fail, out = self.goto, self.fail, self.out
        for char in (text or "").lower():
            while node and char not in goto[node]:
                node = fail[node]
            node = goto[node].get(char, 0)
            if out[node]:
                found.update(out[node])
        return found


@dataclass
class CompiledRule:
    id: int
    words: set[str]
    exclusions: set[str]
    account_ids: set[int]  # empty = every account
    action_tag: bool
    tag_name: str
    action_lead: bool
    action_alert: bool
    name: str = ""
    action_handoff: bool = False


@dataclass
class Matcher:
    """Every active rule compiled into one automaton (words and exclusions together)."""

    rules: list[CompiledRule]
    automaton: Automaton = field(init=False)

    by_word: dict[str, list[int]] = field(init=False)

    def __post_init__(self) -> None:
        words: set[str] = set()
        self.by_word = {}
        for index, rule in enumerate(self.rules):
            words |= rule.words | rule.exclusions
            for word in rule.words:
                self.by_word.setdefault(word, []).append(index)
        self.automaton = Automaton(words)

    def match(self, text: str, account_id: int | None) -> list[tuple[CompiledRule, list[str]]]:
        """The rules that match the text for this account, each with its matched words (sorted).

        Only the rules owning a word found in the text are looked at, so the cost does not grow
        with the number of rules that do not match.
        """
        present = self.automaton.find(text) if self.rules else set()
        if not present:
            return []
        candidates: dict[int, list[str]] = {}
        for word in present:
            for index in self.by_word.get(word, ()):
                candidates.setdefault(index, []).append(word)
        matches = []
        for index in sorted(candidates):
            rule = self.rules[index]
            if rule.exclusions & present:
                continue
            if rule.account_ids and account_id not in rule.account_ids:
                continue
            matches.append((rule, sorted(candidates[index])))
        return matches


def compile_rules(rules) -> Matcher:
    return Matcher(
        [
            CompiledRule(
                id=rule.pk,
                name=rule.name,
                words={w.lower() for w in rule.word_list},
                exclusions={w.lower() for w in rule.exclusion_list},
                account_ids={a.pk for a in rule.accounts.all()},
                action_tag=rule.action_tag,
                tag_name=rule.tag_name,
                action_lead=rule.action_lead,
                action_alert=rule.action_alert,
                action_handoff=rule.action_handoff,
            )
            for rule in rules
        ]
    )


_CACHE: dict[str, object] = {}


def current_matcher() -> Matcher:
    """The matcher for the active rules, rebuilt only when a rule changed (cached per process)."""
    from .models import KeywordRule

    state = KeywordRule.objects.aggregate(
        n=Count("id"), changed=Max("updated_at"), m2m=Count("accounts")
    )
    version = f"{state['n']}:{state['changed']}:{state['m2m']}"
    if _CACHE.get("version") != version:
        rules = KeywordRule.objects.filter(active=True).prefetch_related("accounts")
        _CACHE["matcher"] = compile_rules(rules)
        _CACHE["version"] = version
    return _CACHE["matcher"]  # type: ignore[return-value]
