"""Sentiment scoring of Weibo texts: `channels_weibo.fastsentiment.classify` against SnowNLP's own
`snownlp.sentiment.classify` on the same 2,400 texts in the same run. Goal: at least 5 times as
many texts a second. No database work.

The texts are built from seeded realistic fragments (complaints, praise, questions, reposts with
`//@name:` chains, emoji, @names, #topics#, ASCII, digits, traditional characters and characters
the model has never seen, empty and whitespace-only strings, one text of 500+ characters);
tests/channels_weibo/test_sentiment.py checks on them that both give the same words and scores.
Each timed pass of the fast scorer starts from a new `Scorer` (SnowNLP's model stays loaded, the
scorer's per-character and per-word tables start empty); `score`'s lru_cache is not involved.
"""

import random
import time

from .harness import Result, median

COMPLAINTS = [
    "快递太慢了，等了一个星期还没到",
    "客服态度很差，问了三遍都不回",
    "用了两天就过敏了，脸上起了好多痘痘",
    "退款申请了半个月还没处理",
    "味道跟专柜的完全不一样，是不是假货",
    "包装破损，瓶子漏了一半",
    "再也不买了，差评",
    "说好的赠品呢？",
    "发货太慢，催了好几次",
    "质量太差了，用一次就坏了",
    "价格比别家贵了五十块，坑人",
    "直播间说的和收到的根本不是一个东西",
]
PRAISE = [
    "这个精华液太好用了，爱了",
    "皮肤水水嫩嫩的，回购第三瓶了",
    "客服小姐姐超级耐心",
    "物流很快，第二天就到了",
    "颜色很显白，黄皮友好",
    "性价比超高，推荐给闺蜜了",
    "包装超好看，送人很有面子",
    "用完皮肤亮了一个度，太惊喜了",
    "面膜很服帖，补水效果一级棒",
    "终于抢到了，开心",
]
QUESTIONS = [
    "多少钱？求链接",
    "敏感肌能用吗？",
    "什么时候补货啊",
    "直播间还有优惠券吗",
    "孕妇可以用吗？在线等",
    "想做代理，怎么联系",
    "明天直播几点开始？",
    "这个和上一代有什么区别",
]
TRADITIONAL = ["這個產品真的很好用", "質量太差了", "請問多少錢", "謝謝客服", "轉發微博", "發貨好慢"]
# In SnowNLP's Han range but never seen by its segmentation model; 甭, 淼 and 鑫 are seen only
# inside words, so an unseen character after them makes every path impossible (-inf).
UNSEEN = "龘靐齉爩鱻麤犇骉羴猋囧槑嘂烎兲嫑孖氼巭莪孬冇焱垚"
RARE = "甭淼鑫央协尔士监础普培域器湾什介阶午绍贯绩括艰繁券督"
EMOJI = [
    "[哈哈]",
    "[doge]",
    "[心]",
    "[泪]",
    "[赞]",
    "[怒]",
    "[笑cry]",
    "[允悲]",
    "😂",
    "👍",
    "❤️",
    "🙄",
]
ASCII = [
    "OMG",
    "yyds",
    "nice",
    "SK-II",
    "Lancome",
    "100ml",
    "iPhone 15",
    "http://t.cn/A6abcdE",
    "ok",
]
DIGITS = ["3瓶", "99元", "2026年11月11日", "第2次", "5折", "12:30", "618"]
NAMES = ["小红薯", "美妆博主Lily", "花漾美妆", "李佳琦Austin", "momo_123", "一只猫"]
TOPICS = ["#双十一#", "#护肤心得#", "#防晒霜测评#", "#花漾水光精华液#"]
SEPARATORS = ["", "，", "。", "！", "？", " ", "~", "…", "\n", "　", "!!", ","]
SPECIAL = ["", " ", "\t\n", "　", "转发微博", "轉發微博", "repost", "[哈哈]", "😂😂😂", "?", "好"]


def _fragment(rng: random.Random) -> str:
    kind = rng.random()
    if kind < 0.3:
        return rng.choice(COMPLAINTS)
    if kind < 0.55:
        return rng.choice(PRAISE)
    if kind < 0.7:
        return rng.choice(QUESTIONS)
    if kind < 0.78:
        return rng.choice(TRADITIONAL)
    if kind < 0.86:
        return rng.choice(EMOJI)
    if kind < 0.92:
        return rng.choice(ASCII)
    return rng.choice(DIGITS)


def _unseen_mix(rng: random.Random) -> str:
    """Known, rare and unseen characters together: unseen ones make SnowNLP's ties."""
    pool = UNSEEN + RARE + "的一是了我不人在他有这个上们来到时大地为子中你说生国年着就那和要"
    return "".join(rng.choice(pool) for _ in range(rng.randint(1, 30)))


def _post(rng: random.Random) -> str:
    parts = [_fragment(rng) for _ in range(rng.randint(1, 4))]
    if rng.random() < 0.15:
        parts.insert(rng.randrange(len(parts) + 1), _unseen_mix(rng))
    text = "".join(part + rng.choice(SEPARATORS) for part in parts)
    if rng.random() < 0.2:
        text = f"@{rng.choice(NAMES)} " + text
    if rng.random() < 0.15:
        text = rng.choice(TOPICS) + text
    if rng.random() < 0.2:
        hops = rng.randint(1, 3)
        text += "".join(f"//@{rng.choice(NAMES)}:{_fragment(rng)}" for _ in range(hops))
    return text


def long_text(rng: random.Random) -> str:
    """Over 500 characters, with one 200-character Han run (no punctuation) in the middle."""
    pool = [*COMPLAINTS, *PRAISE, *QUESTIONS]
    head = "".join(rng.choice(pool) + "，" for _ in range(12))
    run = "".join(c for c in "".join(pool) if "\u4e00" <= c <= "\u9fa5")[:200]
    tail = "".join(rng.choice(pool) + rng.choice(SEPARATORS) for _ in range(12))
    return head + run + tail


def make_texts(count: int = 2400, seed: int = 23) -> list[str]:
    """`count` Weibo-like texts, the same for the same seed: special cases first, then posts."""
    rng = random.Random(seed)
    texts = [*SPECIAL, long_text(rng)]
    while len(texts) < count:
        texts.append(_unseen_mix(rng) if rng.random() < 0.05 else _post(rng))
    return texts


def _rate(classify, texts: list[str]) -> float:
    start = time.perf_counter()
    for text in texts:
        classify(text)
    return len(texts) / (time.perf_counter() - start)


def run(scale) -> list[Result]:
    from snownlp import sentiment

    from channels_weibo import fastsentiment

    texts = make_texts()
    fastsentiment.scorer()  # loads SnowNLP's model, which both use
    snownlp_rate = _rate(sentiment.classifier.classify, texts)
    rates = [_rate(fastsentiment.Scorer().classify, texts) for _ in range(3)]
    rate = median(rates)
    chars = sum(len(text) for text in texts) / len(texts)
    return [
        Result(
            f"weibo sentiment: {len(texts):,} texts",
            rate,
            "texts/s",
            snownlp_rate,
            "snownlp.sentiment.classify",
            "ratio:>=5",
            f"{chars:.0f} characters a text; {1000 / rate:.2f} ms a text against "
            f"{1000 / snownlp_rate:.2f} ms; fast passes: {[round(r) for r in rates]} texts/s",
            {"texts": len(texts), "fast_rates": rates, "snownlp_rate": snownlp_rate},
        )
    ]
