"""Sentiment of Chinese posts and comments, offline, with SnowNLP: an aid, never the only signal.

SnowNLP's Bayes classifier (trained on product reviews) gives the probability that a text is
positive, 0..1. Labels: >= 0.6 positive, <= 0.4 negative, otherwise neutral. A repost is scored
on the reposter's own words (the text before the first `//@`); a repost without words
("转发微博", empty) is neutral with no score. The score is computed by `fastsentiment`, which
gives SnowNLP's own result bit for bit from SnowNLP's model, in about 0.4 ms a Weibo text instead
of SnowNLP's 4.3 ms (bench/weibo_sentiment.py). The model loads once per process (about 3 s), on
first use; ingestion scores only new posts and comments by others that concern the brand.
"""

from functools import lru_cache

from . import fastsentiment
from .protocol import own_text

POSITIVE_AT = 0.6
NEGATIVE_AT = 0.4
_NO_WORDS = {"", "转发微博", "轉發微博", "repost"}


def label_for(score: float | None) -> str:
    if score is None:
        return "neutral"
    if score >= POSITIVE_AT:
        return "positive"
    if score <= NEGATIVE_AT:
        return "negative"
    return "neutral"


@lru_cache(maxsize=4096)
def score(text: str) -> float | None:
    """Probability (0..1) that the text is positive, or None when there is nothing to score."""
    words = own_text(text)
    if words.strip() in _NO_WORDS:
        return None
    return round(float(fastsentiment.classify(words)), 4)


def analyse(text: str) -> tuple[float | None, str]:
    value = score(text or "")
    return value, label_for(value)
