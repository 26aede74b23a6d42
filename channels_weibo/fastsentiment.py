"""SnowNLP's sentiment score, computed faster and bit for bit the same, from SnowNLP's own model.

`snownlp.sentiment.classify(text)` segments the text with a character-based second-order HMM
(a Viterbi over the tags b/m/e/s of each Han character), drops stop words and scores the words
with a naive Bayes model. Both steps are pure Python; the Viterbi copies every candidate path at
every character and computes each of its 64 transitions with several dict lookups: about 4 ms a
Weibo text, against about 0.4 ms here (bench/weibo_sentiment.py). This module reads the model
objects SnowNLP has loaded (no copy of its data) and gives the same words and the same float:

- The Viterbi keeps back-pointers instead of paths and skips predecessors that are already
  impossible (-inf). A transition's trigram term is looked up only where both of its bigrams
  were seen in training (a trigram count implies them); everywhere else the transition is the
  bigram part, shared by the four predecessors.
- Ties break as in SnowNLP: predecessors are tried in SnowNLP's dict order with a strict `>`,
  the last state is the first maximum in that order, and a character the model has never seen
  takes the last predecessor, as SnowNLP's dict overwrite does.
- Every float is computed with the same operations in the same order, so it rounds the same.

`seg(text)` equals `snownlp.seg.seg(text)` and `classify(text)` equals
`snownlp.sentiment.classify(text)`; tests/channels_weibo/test_sentiment.py compares them.
"""

import re
from functools import lru_cache
from math import exp, log

_HAN_RUN = re.compile("([\u4e00-\u9fa5]+)")  # SnowNLP's own definition of a Han character
_TAGS = ("b", "m", "e", "s")  # SnowNLP's `status` order, which decides ties
_BOS = ("", "BOS")
_NEG_INF = float("-inf")


class _Char:
    """One character's states `(char, tag)`, their unigram counts and weighted unigram terms."""

    __slots__ = ("states", "counts", "uni_terms", "tags", "known")

    def __init__(self, states, counts, uni_terms):
        self.states = states
        self.counts = counts
        self.uni_terms = uni_terms
        # Tags the model has seen for this character; any other tag has probability 0.
        self.tags = tuple(i for i, count in enumerate(counts) if count != 0)
        self.known = bool(self.tags)


class _Segmenter:
    """SnowNLP's CharacterBasedGenerativeModel.tag with back-pointers, plus Seg.seg."""

    def __init__(self, model) -> None:
        self.l1, self.l2, self.l3 = model.l1, model.l2, model.l3
        self.uni, self.uni_none, self.uni_total = model.uni.d, model.uni.none, model.uni.total
        self.bi, self.bi_none = model.bi.d, model.bi.none
        self.tri, self.tri_none = model.tri.d, model.tri.none
        self.chars: dict[str, _Char] = {}  # at most the 20,902 characters of _HAN_RUN
        bos_count = self.uni.get(_BOS, self.uni_none)
        # Before the text: one state, BOS, at tag index 0; the other three never exist.
        self.bos = _Char((_BOS,) * 4, (bos_count,) * 4, (0.0,) * 4)
        self.bos.tags, self.bos.known = (0,), True
        self.start_bigram = self.bi.get((_BOS, _BOS), self.bi_none)

    def char(self, c: str) -> _Char:
        record = self.chars.get(c)
        if record is None:
            states = tuple((c, tag) for tag in _TAGS)
            counts = tuple(self.uni.get(state, self.uni_none) for state in states)
            uni_terms = tuple(self.l1 * (float(count) / self.uni_total) for count in counts)
            record = self.chars[c] = _Char(states, counts, uni_terms)
        return record

    def seg(self, text: str) -> list[str]:
        """The words of `snownlp.seg.seg(text)`: Han runs segmented, the rest split on spaces."""
        words: list[str] = []
        for i, part in enumerate(_HAN_RUN.split(text)):
            if i % 2:  # re.split with one group alternates: other, Han, other, ..., other
                words += self.words(part)
            else:
                words += part.split()
        return words

    def words(self, run: str) -> list[str]:
        """Seg.seg: a word ends at an `e` tag, and a new one starts at `b` or `s`."""
        words = []
        current = ""
        for c, tag in zip(run, self.tag(run), strict=True):
            if tag == 2:
                words.append(current + c)
                current = ""
            elif tag == 0 or tag == 3:
                if current:
                    words.append(current)
                current = c
            else:
                current += c
        if current:
            words.append(current)
        return words

    def tag(self, run: str) -> list[int]:
        """Tag indices of the best path, as CharacterBasedGenerativeModel.tag chooses it.

        A layer holds, at index `a * 4 + s`, the best log-probability of the state whose
        previous character has tag `a` and whose current one has tag `s`; `back` holds the
        tag of the character before the previous one on that best path, and `bigrams` the
        state's bigram count (the denominator of the next trigram term). In SnowNLP's dict the
        states come in the order s, then a, and every state of a layer exists (an impossible
        one with -inf), except before the second character, where `a` is only BOS (index 0).
        """
        chars = [self.char(c) for c in run]
        probs = [_NEG_INF] * 16
        probs[0] = 0.0
        bigrams = [0] * 16
        bigrams[0] = self.start_bigram
        backs = []
        prev2 = prev1 = self.bos
        for i, cur in enumerate(chars):
            if cur.known:
                probs, back, bigrams = self.step(prev2, prev1, cur, probs, bigrams)
            else:
                probs, back, bigrams = self.step_unknown(i, probs)
            backs.append(back)
            prev2, prev1 = prev1, cur
        return self.best_path(probs, backs, len(chars))

    def step(self, prev2, prev1, cur, probs, bigrams):
        """One Viterbi step onto a character the model knows."""
        l2, l3 = self.l2, self.l3
        bi_get, bi_none = self.bi.get, self.bi_none
        tri_get, tri_none = self.tri.get, self.tri_none
        states2, states1, states = prev2.states, prev1.states, cur.states
        uni_terms, tags = cur.uni_terms, cur.tags
        new = [_NEG_INF] * 16
        back = [0] * 16  # an all -inf state keeps the first predecessor, as SnowNLP's does
        new_bigrams = [0] * 16
        for a in range(4):
            # Predecessors (x, a) in SnowNLP's order; an impossible one (-inf) never wins.
            alive = [
                (x, probs[i], bigrams[i], states2[x])
                for x, i in enumerate(range(a, 16, 4))
                if probs[i] != _NEG_INF
            ]
            if not alive:
                continue
            s2 = states1[a]
            u2 = prev1.counts[a]
            for s in tags:
                s3 = states[s]
                pair = bi_get((s2, s3), bi_none)
                # log_prob = log(uni + bi + tri), each term as SnowNLP computes it, in its order.
                base = uni_terms[s]
                if u2 != 0 and pair != 0:
                    base = base + l2 * pair / u2
                shared = log(base)  # base > 0: the unigram term of a seen tag is positive
                best, best_x = _NEG_INF, 0
                if pair == 0:  # no trigram through this bigram was seen
                    for x, p, _, _ in alive:
                        p = p + shared
                        if p > best:
                            best, best_x = p, x
                else:
                    for x, p, b12, s1 in alive:
                        count = tri_get((s1, s2, s3), tri_none) if b12 != 0 else 0
                        if count != 0:
                            p = p + log(base + l3 * count / b12)
                        else:
                            p = p + shared
                        if p > best:
                            best, best_x = p, x
                index = a * 4 + s
                new[index] = best
                back[index] = best_x
                new_bigrams[index] = pair
        return new, back, new_bigrams

    @staticmethod
    def step_unknown(i, probs):
        """A character the model has never seen: SnowNLP adds nothing and, writing each state
        once per predecessor into its dict, keeps the last predecessor (tag s, or BOS)."""
        last = 3 if i >= 2 else 0
        prevs = range(4) if i >= 1 else (0,)
        new = [_NEG_INF] * 16
        for a in prevs:
            p = probs[last * 4 + a]
            for s in range(4):
                new[a * 4 + s] = p
        return new, [last] * 16, [0] * 16

    @staticmethod
    def best_path(probs, backs, n):
        """The first maximum in SnowNLP's state order, followed back to the first character."""
        prevs = range(4) if n >= 2 else (0,)
        best, best_index = None, 0
        for s in range(4):
            for a in prevs:
                p = probs[a * 4 + s]
                if best is None or p > best:
                    best, best_index = p, a * 4 + s
        a, s = divmod(best_index, 4)
        if n == 1:
            return [s]
        tags = [0] * n
        tags[n - 1], tags[n - 2] = s, a
        for i in range(n - 1, 1, -1):
            x = backs[i][a * 4 + s]
            tags[i - 2] = x
            a, s = x, a
        return tags


class _Bayes:
    """SnowNLP's Bayes.classify with each word's log-frequencies computed once."""

    def __init__(self, bayes) -> None:
        self.classes = list(bayes.d)
        probs = [bayes.d[k] for k in self.classes]
        self.priors = [log(p.getsum()) - log(bayes.total) for p in probs]
        self.tables = [(p.d, p.none, p.total) for p in probs]
        self.unknown = tuple(log(float(none) / total) for _, none, total in self.tables)
        self.word_logs: dict[str, tuple[float, ...]] = {}  # at most the model's vocabulary

    def logs(self, word: str) -> tuple[float, ...]:
        logs = self.word_logs.get(word)
        if logs is None:
            if not any(word in d for d, _, _ in self.tables):
                return self.unknown
            logs = tuple(log(float(d.get(word, none)) / total) for d, none, total in self.tables)
            self.word_logs[word] = logs
        return logs

    def classify(self, words: list[str]) -> tuple[str | int, float | int]:
        tmp = list(self.priors)
        classes = range(len(tmp))
        for word in words:
            logs = self.logs(word)
            for k in classes:
                tmp[k] += logs[k]
        ret: str | int = 0
        prob: float | int = 0
        for k in classes:
            now: float | int = 0
            try:
                for other in classes:
                    now += exp(tmp[other] - tmp[k])
                now = 1 / now
            except OverflowError:
                now = 0
            if now > prob:
                ret, prob = self.classes[k], now
        return ret, prob


class Scorer:
    """Segmentation, stop words and Bayes of `snownlp.sentiment.Sentiment.classify`."""

    def __init__(self):
        from snownlp import normal, sentiment
        from snownlp import seg as snownlp_seg

        self.segmenter = _Segmenter(snownlp_seg.segger.segger)
        self.bayes = _Bayes(sentiment.classifier.classifier)
        self.stop = normal.stop

    def seg(self, text: str) -> list[str]:
        return self.segmenter.seg(text)

    def classify(self, text: str) -> float:
        stop = self.stop
        words = [word for word in self.segmenter.seg(text) if word not in stop]
        ret, prob = self.bayes.classify(words)
        if ret == "pos":
            return prob
        return 1 - prob


@lru_cache(maxsize=1)
def scorer() -> Scorer:
    """The scorer over SnowNLP's loaded model: the first call loads it (about 3 s)."""
    return Scorer()


def seg(text: str) -> list[str]:
    """The words of `snownlp.seg.seg(text)`."""
    return scorer().seg(text)


def classify(text: str) -> float:
    """`snownlp.sentiment.classify(text)`: the probability, 0..1, that the text is positive."""
    return scorer().classify(text)
