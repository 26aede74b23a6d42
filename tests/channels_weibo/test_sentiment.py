"""channels_weibo.fastsentiment gives SnowNLP's own words and scores, bit for bit.

The corpus: the 2,400 Weibo-like texts of bench/weibo_sentiment.py (seeded) and the first 150
lines of SnowNLP's neg.txt and pos.txt. SnowNLP itself takes about 30 s of one core to segment
them all (the reviews are long), so the comparison runs in 8 chunks that pytest-xdist spreads
over its workers. Breaking any of the tie rules (a `>=` for a `>` in either maximum, or an
unseen character taking the first predecessor instead of the last) makes the chunks fail.
"""

from pathlib import Path

import pytest
import snownlp

from bench.weibo_sentiment import UNSEEN, make_texts
from channels_weibo import fastsentiment
from channels_weibo.sentiment import analyse, score

SNOWNLP_SENTIMENT = Path(snownlp.__file__).parent / "sentiment"
WEIBO_TEXTS = make_texts()
REVIEWS = [
    *(SNOWNLP_SENTIMENT / "neg.txt").read_text(encoding="utf-8").splitlines()[:150],
    *(SNOWNLP_SENTIMENT / "pos.txt").read_text(encoding="utf-8").splitlines()[:150],
]
CORPUS = [*WEIBO_TEXTS, *REVIEWS]
CHUNKS = 8


def snownlp_result(text: str) -> tuple[list[str], float]:
    """SnowNLP's words and score: the steps of Sentiment.classify, segmenting only once."""
    from snownlp import normal, seg, sentiment

    words = seg.seg(text)
    ret, prob = sentiment.classifier.classifier.classify(normal.filter_stop(words))
    return words, prob if ret == "pos" else 1 - prob


def test_corpus_has_the_weibo_cases():
    assert len(WEIBO_TEXTS) == 2400
    assert len(REVIEWS) == 300
    assert "" in WEIBO_TEXTS and "\u3000" in WEIBO_TEXTS and "\t\n" in WEIBO_TEXTS
    assert max(len(text) for text in WEIBO_TEXTS) == 502
    for needle in (
        "//@",
        "多少钱？求链接",
        "[哈哈]",
        "#双十一#",
        "@小红薯",
        "yyds",
        "99元",
        "質量",
    ):
        assert any(needle in text for text in WEIBO_TEXTS), needle
    assert sum(any(c in text for c in UNSEEN) for text in WEIBO_TEXTS) == 406


def test_snownlp_result_is_snownlp_classify():
    from snownlp import sentiment

    for text in WEIBO_TEXTS[:150]:
        assert snownlp_result(text)[1] == sentiment.classify(text), text


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_same_words_and_score_as_snownlp(chunk):
    texts = CORPUS[chunk::CHUNKS]
    mismatches = []
    for text in texts:
        expected = snownlp_result(text)
        got = (fastsentiment.seg(text), fastsentiment.classify(text))
        if got != expected:
            mismatches.append({"text": text, "snownlp": expected, "fast": got})
    assert mismatches == [], f"{len(mismatches)} of {len(texts)} differ, first: {mismatches[:3]}"


@pytest.mark.parametrize(
    ("text", "words", "value"),
    [
        (
            "这个精华液太好用了，爱了",
            ["这个", "精华", "液", "太", "好", "用", "了", "，", "爱", "了"],
            0.6506280668326359,
        ),
        (
            "快递太慢了，等了一个星期还没到",
            ["快递", "太", "慢", "了", "，", "等", "了", "一个", "星期", "还", "没", "到"],
            0.019889147068344326,
        ),
        ("多少钱？求链接", ["多少", "钱", "？", "求", "链", "接"], 0.117519430427523),
        (
            "@花漾美妆 [哈哈] yyds!!",
            ["@", "花漾", "美妆", "[", "哈哈", "]", "yyds!!"],
            0.7848834423144085,
        ),
        # 龘 is unseen: SnowNLP keeps the last predecessor; 鑫 is never a word of its own, so
        # after 鑫很龘 every path has probability 0 and the first one in SnowNLP's order wins.
        ("精华龘液", ["精华", "龘液"], 0.5511027775811325),
        ("鑫很龘好用", ["鑫", "很", "龘", "好", "用"], 0.7413186702477667),
        ("龘", ["龘"], 0.5),
        ("", [], 0.5262327818078083),
    ],
)
def test_known_snownlp_values(text, words, value):
    assert fastsentiment.seg(text) == words
    assert fastsentiment.classify(text) == value


def test_score_rounds_the_reposters_own_words():
    assert score.__wrapped__("这个精华液太好用了，爱了//@小红薯:太差了") == 0.6506
    assert analyse("快递太慢了，等了一个星期还没到") == (0.0199, "negative")
    assert analyse("//@小红薯:太差了") == (None, "neutral")
    assert analyse("转发微博") == (None, "neutral")


def test_model_has_the_counts_the_fast_viterbi_relies_on():
    """A seen bigram's states are seen unigrams and a seen trigram's bigrams are seen bigrams,
    so a transition from or into an unseen state has no bigram or trigram term."""
    from snownlp import seg

    model = seg.segger.segger
    uni, bi, tri = model.uni.d, model.bi.d, model.tri.d
    assert all(uni.get(s2, 0) > 0 and uni.get(s3, 0) > 0 for s2, s3 in bi)
    assert all(bi.get((s1, s2), 0) > 0 and bi.get((s2, s3), 0) > 0 for s1, s2, s3 in tri)
    assert (model.uni.none, model.bi.none, model.tri.none) == (0, 0, 0)
