"""The people of the demo, the sandboxes and the benchmark data: one list, not a copy per tool.

Common Chinese surnames and given names (one or two characters) and the cities a brand's
customers live in. Seeded generators pick from these lists with their own `random.Random`, so a
change here changes every seeded data set (the demo's, the benchmarks'): append, do not reorder.
"""

import random

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程苏魏吕丁沈"
GIVEN_NAMES = [
    "伟",
    "芳",
    "娜",
    "秀英",
    "敏",
    "静",
    "丽",
    "强",
    "磊",
    "军",
    "洋",
    "勇",
    "艳",
    "杰",
    "娟",
    "涛",
    "明",
    "超",
    "秀兰",
    "霞",
    "平",
    "刚",
    "桂英",
    "晓明",
    "欣怡",
    "子涵",
    "梓萱",
    "浩然",
    "雨桐",
    "一诺",
    "思远",
    "佳怡",
    "宇轩",
    "若曦",
    "俊杰",
    "诗涵",
    "嘉怡",
    "文博",
    "晨曦",
]
CITIES = [
    "上海",
    "北京",
    "广州",
    "深圳",
    "杭州",
    "成都",
    "南京",
    "武汉",
    "西安",
    "苏州",
    "重庆",
    "天津",
    "长沙",
    "厦门",
    "青岛",
]


def chinese_name(rng: random.Random) -> str:
    """A surname and a given name, e.g. "王子涵", drawn with `rng`."""
    return rng.choice(SURNAMES) + rng.choice(GIVEN_NAMES)
