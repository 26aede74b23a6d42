"""Inbox search over 1,000,000 messages (issue #19 item 5): the API's p95 against the bare SQL
of the same search, measured in the same run.

The generated messages are drawn from a few dozen canned sentences, so any word would be in
every message or in none. This benchmark first rewrites every message's text from a vocabulary
of 80 customer-service words (4 to 10 words a message, chosen per id by a hash in SQL, so the
same on every run): a word is in about 8% of the messages, a given pair of words in about 0.1%.
It plants one rare phrase (发票抬头变更) in 1 message of 10,000, writes 20,000 private notes
and puts labels on 30% of the conversations, rebuilds the trigram and character-pair indexes and ANALYZEs.

Queries, each through `/api/v1/conversations/?q=` (DRF, token auth, the page of 50 with the
matching snippets) and as one bare SQL statement of the same search:
- a rare 6-character phrase (100 messages);
- a 4-character pair of words (~1,000 messages);
- the same with the label, status and date filters;
- a customer's full name (the customers' trigram index);
- a common 2-character word (~8% of messages): no trigram; the character-pair index;
- a rare 2-character word (only in the planted phrase): the character-pair index.
Goal: p95 < 200 ms each.
"""

from .harness import Result, p95, timed

REPEAT = 20
WORDS = (
    "您好 请问 我的 订单 什么时候 发货 物流 快递 还没 收到 已经 三天 退款 进度 申请 换货 尺码 "
    "颜色 不对 质量 问题 破损 包装 客服 麻烦 帮我 查询 一下 谢谢 地址 修改 取消 催单 到货 价格 "
    "保修 安装 活动 满减 包邮 预售 退货 签收 投诉 优惠券 会员 积分 兑换 生日 礼品 门店 自提 "
    "发票 开具 电子 纸质 邮寄 抽奖 直播 链接 库存 补货 预约 上门 维修 售后 电话 短信 验证码 "
    "登录 账号 绑定 手机 微信 支付 失败 成功"
).split()
RARE_PHRASE = "发票抬头变更"


def prepare(cursor) -> dict:
    """Rewrite the messages' text, plant the rare phrase, add notes and labels; reindex."""
    import time

    started = time.perf_counter()
    words = "ARRAY[" + ",".join(f"'{w}'" for w in WORDS) + "]"
    n = len(WORDS)
    # The texts are rewritten without their two search indexes, which are built again after.
    cursor.execute("DROP INDEX IF EXISTS crm_message_content_trgm")
    cursor.execute("DROP INDEX IF EXISTS crm_message_content_bigrams")
    cursor.execute(
        f"""
        UPDATE crm_message m SET content = CASE WHEN m.id % 10000 = 7 THEN '请把{RARE_PHRASE}一下'
          ELSE (SELECT string_agg(({words})[1 + ((hashint8(m.id * 31 + k) % {n}) + {n}) % {n}], '')
                FROM generate_series(1, 4 + ((hashint8(m.id) % 7) + 7) % 7) k) END
        """
    )
    cursor.execute(
        """
        INSERT INTO crm_conversationnote (conversation_id, author_id, body, created_at)
        SELECT c.id, c.assignee_id, '内部备注：客户已来电，' || (c.id % 97)::text || ' 号工单跟进',
               c.opened_at + interval '10 minutes'
        FROM crm_conversation c WHERE c.id % 5 = 0
        """
    )
    cursor.execute(
        "INSERT INTO crm_conversationlabel (name, color, description, created_at) VALUES "
        "('售后', '#1677ff', '', now()), ('物流', '#07c160', '', now()), "
        "('投诉升级', '#cf1322', '', now()) ON CONFLICT (name) DO NOTHING"
    )
    cursor.execute(
        """
        INSERT INTO crm_conversationlabelling (conversation_id, label_id, added_at)
        SELECT c.id, l.id, c.opened_at FROM crm_conversation c
        JOIN crm_conversationlabel l ON l.name = (ARRAY['售后', '物流', '投诉升级'])[1 + c.id % 3]
        WHERE c.id % 10 < 3
        """
    )
    cursor.execute(
        "CREATE INDEX crm_message_content_trgm ON crm_message USING gin (UPPER(content) gin_trgm_ops)"
    )
    cursor.execute(
        "CREATE INDEX crm_message_content_bigrams ON crm_message "
        "USING gin (crm_search_bigrams(content))"
    )
    for table in ("crm_message", "crm_conversationnote", "crm_conversationlabelling"):
        cursor.execute(f"ANALYZE {table}")
    cursor.execute(f"SELECT count(*) FROM crm_message WHERE content LIKE '%{RARE_PHRASE}%'")
    rare = cursor.fetchone()[0]
    cursor.execute("SELECT count(*) FROM crm_message")
    messages = cursor.fetchone()[0]
    return {"seconds": time.perf_counter() - started, "rare": rare, "messages": messages}


BARE = """
SELECT c.id, c.channel, c.account, c.kind, c.status, c.customer_id, cu.name, c.assignee_id,
       c.opened_at, c.last_message_at
FROM crm_conversation c JOIN crm_customer cu ON cu.id = c.customer_id
WHERE c.channel IN ('wechat', 'weibo') AND c.kind IN ('service', 'complaint')
  AND (c.id IN (SELECT conversation_id FROM crm_message
                WHERE UPPER(content) LIKE UPPER(%(q)s) {pairs_content})
       OR c.id IN (SELECT conversation_id FROM crm_conversationnote
                   WHERE UPPER(body) LIKE UPPER(%(q)s) {pairs_body})
       OR c.customer_id IN (SELECT id FROM crm_customer
                            WHERE UPPER(name) LIKE UPPER(%(q)s) {pairs_name}))
  {filters}
ORDER BY c.last_message_at DESC, c.id DESC LIMIT 51
"""
BARE_FILTERS = """
  AND c.status = 'resolved' AND c.opened_at >= %(after)s
  AND c.id IN (SELECT conversation_id FROM crm_conversationlabelling WHERE label_id =
               (SELECT id FROM crm_conversationlabel WHERE name = '售后'))
"""


def run(scale) -> list[Result]:
    from datetime import timedelta

    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from crm.models import Customer

    with connection.cursor() as cursor:
        prepared = prepare(cursor)
    admin = User.objects.create_superuser("bench-search", password="x")
    api = Client(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=admin).key}")
    after = (timezone.localdate() - timedelta(days=30)).isoformat()
    name = (
        Customer.objects.filter(conversations__isnull=False)
        .exclude(name="")
        .values_list("name", flat=True)
        .order_by("id")
        .first()
    )
    assert name
    cases = [
        (f"rare 6-character phrase ({prepared['rare']} messages)", RARE_PHRASE, False),
        ("4-character word pair", "退款进度", False),
        ("4-character word pair + label, status, date", "退款进度", True),
        ("customer's full name", name, False),
        ("common 2-character word (pair index)", "物流", False),
        ("rare 2-character word (pair index)", "抬头", False),
    ]
    results = []
    for label, q, filtered in cases:
        params = {"q": q}
        if filtered:
            params.update({"label": "售后", "status": "resolved", "opened_after": after})

        def call(params=params):
            response = api.get("/api/v1/conversations/", params)
            assert response.status_code == 200, response.content[:300]
            return response

        def bare(q=q, filtered=filtered):
            with connection.cursor() as cursor:
                pairs = {
                    f"pairs_{col}": (
                        f"AND crm_search_bigrams({col}) @> crm_search_bigrams(%(term)s)"
                        if len(q) == 2
                        else ""
                    )
                    for col in ("content", "body", "name")
                }
                cursor.execute(
                    BARE.format(filters=BARE_FILTERS if filtered else "", **pairs),
                    {"q": f"%{q}%", "term": q, "after": after},
                )
                rows = cursor.fetchall()
                ids = [r[0] for r in rows[:50]]
                cursor.execute(
                    "SELECT conversation_id, content FROM crm_message "
                    "WHERE conversation_id = ANY(%s) AND UPPER(content) LIKE UPPER(%s) "
                    "ORDER BY conversation_id, sent_at DESC",
                    [ids, f"%{q}%"],
                )
                cursor.fetchall()

        hits = len(call().json()["results"])
        results.append(
            Result(
                f"search API, {label}, p95",
                p95(timed(call, repeat=REPEAT)) * 1000,
                "ms",
                p95(timed(bare, repeat=REPEAT)) * 1000,
                "bare SQL of the same search",
                goal="abs:<200",
                notes=f"{prepared['messages']:,} messages; {hits} conversations on the page",
            )
        )
    results.append(
        Result(
            "search data preparation (rewrite the texts, notes, labels, both indexes)",
            prepared["seconds"],
            "s",
        )
    )
    return results
