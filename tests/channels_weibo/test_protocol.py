"""Pure protocol code against the reference's test vectors and literal payloads."""

from datetime import datetime, timedelta, timezone

import pytest

from channels_weibo.keywords import Automaton
from channels_weibo.protocol import (
    idstr,
    parse_time,
    passive_reply_data,
    repost_chain,
    signature,
    signature_ok,
)
from channels_weibo.sentiment import label_for


def test_signature_matches_documented_example():
    assert signature("xyz123xyz", "1397022061823", "57155157") == (
        "90e4c22c90a58f26526c2dd5b6c56c8822edeaa1"
    )
    assert signature_ok(
        "xyz123xyz", "1397022061823", "57155157", "90e4c22c90a58f26526c2dd5b6c56c8822edeaa1"
    )
    assert not signature_ok(
        "xyz123xyz", "1397022061823", "57155158", "90e4c22c90a58f26526c2dd5b6c56c8822edeaa1"
    )
    assert not signature_ok("", "1", "2", signature("", "1", "2"))


def test_parse_time_gives_aware_datetime():
    assert parse_time("Tue May 31 17:46:55 +0800 2011") == datetime(
        2011, 5, 31, 17, 46, 55, tzinfo=timezone(timedelta(hours=8))
    )


def test_parse_time_reads_negative_offsets_and_refuses_what_is_not_a_time():
    assert parse_time("Sun Nov 01 01:02:03 -0530 2026") == datetime(
        2026, 11, 1, 1, 2, 3, tzinfo=timezone(-timedelta(hours=5, minutes=30))
    )
    for bad in ("Mon Feb 30 17:46:55 +0800 2011", "2011-05-31 17:46:55", "Tue May 31 2011"):
        with pytest.raises(ValueError):
            parse_time(bad)


def test_ids_stay_exact_strings_beyond_2_53():
    assert idstr({"id": 5612814510546515491}) == "5612814510546515491"
    assert idstr({"id": 4091509081366576, "idstr": "4091509081366576"}) == "4091509081366576"


def test_repost_chain_reads_both_colon_forms_and_spaces():
    assert repost_chain("据说国内已经有了哦[鼓掌]//@ACHOO0000：好棒呀") == ["ACHOO0000"]
    assert repost_chain("@linyan瞌睡虫 @阿拉蕾熙熙 //@Yukileevy: 转发微博。") == ["Yukileevy"]
    assert repost_chain("//@南山林雪萍 :虽然欧洲版的") == ["南山林雪萍"]
    assert repost_chain("好物//@B:不错//@C：赞") == ["B", "C"]
    assert repost_chain("//<a href=/n/南山林雪萍>@南山林雪萍</a> :虽然") == ["南山林雪萍"]
    assert repost_chain("转发微博") == []


def test_passive_reply_data_matches_documented_encoding():
    assert passive_reply_data({"text": "中文消息"}) == (
        "%7B%22text%22%3A%22%E4%B8%AD%E6%96%87%E6%B6%88%E6%81%AF%22%7D"
    )


def test_automaton_finds_overlapping_chinese_words_without_spaces():
    automaton = Automaton(["精华液", "新款精华", "华液", "he", "she", "hers"])
    assert automaton.find("我买了新款精华液") == {"精华液", "新款精华", "华液"}
    assert automaton.find("ushers") == {"he", "she", "hers"}
    assert automaton.find("SHE said") == {"she", "he"}
    assert automaton.find("面膜") == set()


def test_sentiment_labels_have_documented_thresholds():
    assert [label_for(v) for v in (0.6, 0.59, 0.41, 0.4, None)] == [
        "positive",
        "neutral",
        "neutral",
        "negative",
        "neutral",
    ]
