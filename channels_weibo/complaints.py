"""Whether a mention or comment is a complaint, a case for the inbox: two signals, not one.

Sentiment is an aid, never the only signal. SnowNLP (trained on product reviews) scores most
questions negative: "这个精华液多少钱？求链接" 0.09, "请问敏感肌可以用吗？" 0.25, "明天直播几点开始？"
0.12. When a negative score alone opened a case, about half the demo's complaint cases were such
questions, and the first ones an agent read were purchase questions (leads, not complaints).

A complaint now needs the author's own words (a repost's text before its `//@` chain) to name a
problem, a word from PROBLEM_WORDS (delivery, quality, skin reactions, service, refunds, fakes,
going to the authorities) that is not denied just before it ("不过敏"), and a score that is not
positive. Single characters common in praise or plain speech ("差" in 差不多, "慢" in 慢慢) are
only listed in phrases. A negative text that names no problem stays labelled negative in the
listening view, where people can find it, without a case.

What this does not understand: a denial after the word ("担心会过敏，结果一点都没有" names 过敏 and
SnowNLP scores it 0.37, so it is a case) and irony. A case that is not one is resolved by the
agent who reads it; the text is on the case.
"""

from .protocol import own_text
from .sentiment import label_for

PROBLEM_WORDS = (
    # delivery and orders
    "没到", "还没收到", "没收到", "没发货", "没有发", "不发货", "发错", "少发", "漏发", "太慢",
    "好慢", "很慢", "丢件",
    # quality and the product
    "太差", "很差", "真差", "好差", "质量差", "差评", "差劲", "质量问题", "破损",
    "漏了", "是漏的", "坏了", "过期", "假货", "假的", "正品吗", "难用", "难闻", "太烂", "稀烂",
    "踩雷", "翻车", "智商税", "不值",
    # skin reactions (beauty)
    "过敏", "烂脸", "红肿", "刺痛", "起痘", "长痘", "闷痘", "泛红", "发痒",
    # service
    "不回复", "不回", "没人理", "不理人", "不解决", "没解决", "态度差", "态度很差", "态度恶劣",
    "推脱", "敷衍",
    # money and the authorities
    "退款", "退货", "退钱", "赔偿", "投诉", "维权", "12315", "消协", "欺诈", "骗",
    # plain dissatisfaction
    "太坑", "坑人", "被坑", "坑爹", "失望", "后悔", "上当", "忽悠", "无语", "气死", "恶心",
    "垃圾", "黑心", "不满",
)  # fmt: skip


# A problem word right after one of these is denied ("不过敏", "没有破损", "不会退货").
NEGATIONS = ("没有", "不会", "不", "没", "无", "未")


def problem_words(text: str) -> list[str]:
    """The problem words in the author's own words, in the order of PROBLEM_WORDS, leaving out
    a word each of whose occurrences is denied."""
    words = own_text(text or "")
    return [word for word in PROBLEM_WORDS if _named(word, words)]


def _named(word: str, text: str) -> bool:
    at = text.find(word)
    while at >= 0:
        if not text[:at].endswith(NEGATIONS):
            return True
        at = text.find(word, at + 1)
    return False


def is_complaint(text: str, score: float | None) -> bool:
    """A problem named in the author's own words and a sentiment score that is not positive."""
    return label_for(score) != "positive" and bool(problem_words(text))
