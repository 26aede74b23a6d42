"""Keyword matching: 1,000 keyword rules against 100,000 posts with the Aho-Corasick matcher of
`channels_weibo.keywords`, and how its time grows with the number of rules (10 to 10,000),
against the naive way (every word of every rule searched in every text) in the same run.

The automaton's matching cost grows with the text length and the matches found, not with the
number of rules; building it grows with the rules and is paid once per process and rule change,
so it is timed apart. These random texts over a small alphabet match more rules the more there
are (about 7 a post at 1,000 rules), which is what the posts/s then follows.
"""

import random
import time

from .harness import Result, progress

CHARS = (
    "的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动同工也能下过子说产种面而方后多定行学法所民得经"
    "精华液面膜口红防晒乳霜水眼护肤美妆敏感肌快递客服退款链接价格直播新品礼盒会员积分优惠券代理加盟批发团购"
)


def _word(rng: random.Random) -> str:
    return "".join(rng.choice(CHARS) for _ in range(rng.randint(2, 4)))


def make_rules(count: int, rng: random.Random):
    from channels_weibo.keywords import CompiledRule

    return [
        CompiledRule(
            id=i,
            words={_word(rng) for _ in range(3)},
            exclusions={_word(rng)} if i % 3 == 0 else set(),
            account_ids=set(),
            action_tag=False,
            tag_name="",
            action_lead=True,
            action_alert=False,
            name=f"rule{i}",
        )
        for i in range(count)
    ]


def make_texts(count: int, rng: random.Random) -> list[str]:
    return ["".join(rng.choice(CHARS) for _ in range(rng.randint(20, 140))) for _ in range(count)]


def _automaton_seconds(rules, texts) -> tuple[float, int, float]:
    """Seconds matching the texts, matches found, and seconds building the automaton (once
    per process and rule change in service: `keywords.current_matcher`)."""
    from channels_weibo.keywords import Matcher

    start = time.perf_counter()
    matcher = Matcher(rules)
    built = time.perf_counter() - start
    start = time.perf_counter()
    hits = 0
    for i, text in enumerate(texts, 1):
        hits += len(matcher.match(text, None))
        if i % 10_000 == 0:
            progress(f"match {len(rules)} rules", i, len(texts))
    return time.perf_counter() - start, hits, built


def _naive_seconds(rules, texts) -> tuple[float, int]:
    start = time.perf_counter()
    hits = 0
    for text in texts:
        for rule in rules:
            if any(w in text for w in rule.words) and not any(w in text for w in rule.exclusions):
                hits += 1
    return time.perf_counter() - start, hits


def run(scale) -> list[Result]:
    rng = random.Random(11)
    posts = 100_000 if scale.get("weibo_posts", 0) >= 100_000 else 20_000
    texts = make_texts(posts, rng)
    rules_1000 = make_rules(1000, rng)
    seconds, hits, built = _automaton_seconds(rules_1000, texts)
    sample = texts[: max(1, posts // 20)]
    naive, naive_hits = _naive_seconds(rules_1000, sample)
    _check, auto_hits, _built = _automaton_seconds(rules_1000, sample)
    if naive_hits != auto_hits:
        raise SystemExit(f"matchers disagree: naive {naive_hits}, automaton {auto_hits}")
    naive_rate = len(sample) / naive
    scaling, matches, building = {}, {}, {}
    for count in (10, 100, 1000, 10_000):
        rules = make_rules(count, random.Random(count))
        t, found, b = _automaton_seconds(rules, sample)
        scaling[count] = round(len(sample) / t)
        matches[count] = round(found / len(sample), 1)
        building[count] = round(b, 3)
    return [
        Result(
            f"weibo keywords: 1,000 rules x {posts:,} posts",
            posts / seconds,
            "posts/s",
            naive_rate,
            "naive substring search",
            "",
            f"{seconds:.1f} s matching ({built:.2f} s building the automaton), {hits:,} rule"
            f" matches; by number of rules: posts/s {scaling}, matches a post {matches},"
            f" seconds building {building}",
            {
                "seconds": seconds,
                "build_seconds": built,
                "posts_per_second_by_rules": scaling,
                "matches_per_post_by_rules": matches,
                "build_seconds_by_rules": building,
            },
        )
    ]
