"""Weibo objects -> rows: the one ingestion path for polling, history import and the demo.

`ingest_statuses` and `ingest_comments` take the API's own JSON objects (a page as the API returns
it) for one brand account and:

1. upsert the authors as WeiboUsers (bulk, on uid) and link new ones to a customer (stage
   `follower`, through crm.identity.create_customers);
2. upsert the posts (bulk, on idstr; originals before reposts so `root` is set) and comments;
   replaying a page changes nothing but the counters, which take the latest values;
3. rebuild repost parents from the `//@name:` chain (channels_weibo.cascades);
4. analyse, once, what others wrote about the brand: keyword rules (Aho-Corasick) and sentiment
   (SnowNLP) on the author's own words (a repost's text before its `//@` chain), one crm
   Interaction each (mention, repost or comment), the rules' actions (tag,
   lead, alert) and a complaint case in the inbox for recent ones that name a problem and are
   not positive (channels_weibo.analysis).

A post "concerns" a brand account (its `account` is set) when it is the brand's own, came from
one of the account's streams (mentions, reposts of its posts) or is a comment's post by the brand.
`mentions_brand` is true for posts from the mentions stream and for any text containing
`@<brand screen name>`.
"""

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from django.db import connection, transaction
from django.utils import timezone

from crm.bulk import placeholders, upsert_rows
from crm.identity import create_customers, resolve_customer
from crm.models import Channel, Customer, Gender, InteractionKind
from crm.privacy import TOMBSTONE_PREFIX

from .analysis import (
    analyse_comments,
    analyse_item,
    analyse_posts,
    analyse_text,
    apply_analysis,
    post_kind,
)
from .cascades import Repost, link_parents
from .keywords import current_matcher
from .models import WeiboAccount, WeiboComment, WeiboPost, WeiboUser
from .protocol import as_int, idstr, parse_time, repost_chain

_GENDER = {"m": Gender.MALE, "f": Gender.FEMALE}
# A user's profile as the API gives it: stored on first sight, refreshed on every later one.
_PROFILE = [
    "screen_name",
    "location",
    "gender",
    "followers_count",
    "friends_count",
    "statuses_count",
    "verified",
    "verified_type",
    "avatar_url",
]
_USER_FIELDS = [*_PROFILE, "updated_at"]


@dataclass
class IngestResult:
    created: int = 0
    seen: int = 0
    analysed: int = 0
    ids: list[str] = field(default_factory=list)

    def __iadd__(self, other: "IngestResult") -> "IngestResult":
        self.created += other.created
        self.seen += other.seen
        self.analysed += other.analysed
        self.ids += other.ids
        return self


# -- users ----------------------------------------------------------------------------------


class Author(NamedTuple):
    """A stored WeiboUser as ingestion needs it."""

    pk: int
    customer_id: int | None


_USER_COLUMNS = ["uid", *_PROFILE, "kol_category", "created_at", "updated_at"]


def _user_values(obj: dict[str, Any], now) -> tuple:
    uid = idstr(obj)
    return (
        uid,
        _screen_name(obj),
        str(obj.get("location") or "")[:64],
        str(obj.get("gender") or "")[:2],
        as_int(obj.get("followers_count")),
        as_int(obj.get("friends_count")),
        as_int(obj.get("statuses_count")),
        bool(obj.get("verified")),
        as_int(obj.get("verified_type"), -1),
        str(obj.get("avatar_large") or obj.get("profile_image_url") or "")[:300],
        "",
        now,
        now,
    )


def _screen_name(obj: dict[str, Any]) -> str:
    return str(obj.get("screen_name") or obj.get("name") or idstr(obj))[:64]


def upsert_users(
    objs: list[dict[str, Any]], *, first_seen: dict[str, Any], settled: set[str] | None = None
) -> dict[str, Author]:
    """Upsert user objects on uid and give every non-brand one a customer. Returns uid -> Author.

    A Weibo identity has no strong key (no unionid, no verified phone), so resolving a new one
    is creating a customer (stage follower, first channel weibo, created when first seen):
    `crm.identity.create_customers`, one INSERT for the page, for the users not yet linked (new
    ones, or ones whose customer was erased). The users' upsert then keeps a customer already
    there (another worker may have linked the user meanwhile) and returns ids and customers; a
    customer that lost that race is deleted again (nothing points at it yet). `settled`: the
    uids known to need no customer, when the caller already asked (`_known`).
    Caller's transaction.
    """
    now = timezone.now()
    rows: dict[str, tuple] = {}
    for obj in objs:
        row = _user_values(obj, now)
        rows[row[0]] = row
    if not rows:
        return {}
    uids = list(rows)
    if settled is None:
        settled, _posts = _known(uids, [])
    orphans = [uid for uid in uids if uid not in settled]
    made = dict(
        zip(
            orphans,
            create_customers(
                channel=Channel.WEIBO,
                people=[
                    {
                        **_customer_defaults(rows[uid][1], rows[uid][2], rows[uid][3]),
                        "created_at": first_seen.get(uid),
                    }
                    for uid in orphans
                ],
            ),
            strict=True,
        )
    )
    users = {
        uid: Author(pk, customer_id)
        for pk, uid, customer_id in upsert_rows(
            WeiboUser,
            [*_USER_COLUMNS, "customer"],
            [(*row, made.get(uid)) for uid, row in rows.items()],
            unique="uid",
            update=_USER_FIELDS,
            merge={"customer": "COALESCE({old}, {new})"},
            returning=["id", "uid", "customer"],
        )
    }
    lost = [pk for uid, pk in made.items() if users[uid].customer_id != pk]
    if lost:
        Customer.objects.filter(pk__in=lost).delete()
    return users


def _known(uids: list[str], keys: list[str]) -> tuple[set[str], set[str]]:
    """Of these users, those that need no new customer (linked ones, brand accounts); of these
    post ids, those already stored. One round trip."""
    quote = connection.ops.quote_name
    user, brand, post = (quote(m._meta.db_table) for m in (WeiboUser, WeiboAccount, WeiboPost))
    # Users by uid alone, the customer tested here: with `customer_id IS NOT NULL` in the query
    # PostgreSQL walked the customer_id index over every linked user.
    parts = [
        f"SELECT 'u', uid, customer_id IS NOT NULL FROM {user} WHERE uid IN ({placeholders(uids)})",  # noqa: S608
        f"SELECT 'u', uid, true FROM {brand} WHERE uid IN ({placeholders(uids)})",  # noqa: S608
    ]
    params = [*uids, *uids]
    if keys:
        parts.append(f"SELECT 'p', idstr, true FROM {post} WHERE idstr IN ({placeholders(keys)})")  # noqa: S608
        params += keys
    found: dict[str, set[str]] = {"u": set(), "p": set()}
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        for kind, key, counts in cursor.fetchall():
            if counts:
                found[kind].add(key)
    return found["u"], found["p"]


def _customer_defaults(screen_name: str, location: str, gender: str) -> dict[str, Any]:
    city = location.split(" ")[-1] if location else ""
    return {
        "name": screen_name[:128],
        "city": city[:64],
        "gender": _GENDER.get(gender, Gender.UNKNOWN),
    }


def link_customer(user: WeiboUser, *, at=None) -> None:
    """Give a Weibo identity its customer (a new one, stage follower). Caller's transaction."""
    customer = resolve_customer(
        channel=Channel.WEIBO,
        at=at,
        defaults=_customer_defaults(user.screen_name, user.location, user.gender),
    )
    WeiboUser.objects.filter(pk=user.pk, customer__isnull=True).update(customer=customer)
    user.customer = customer


# -- posts ----------------------------------------------------------------------------------

_POST_COLUMNS = [
    *WeiboPost.HEAD_FIELDS,
    "root",
    "parent_name",
    "reposts_count",
    "comments_count",
    "attitudes_count",
    "mentions_brand",
    "keywords",
    "sentiment",
    "sentiment_label",
    "raw",
    "fetched_at",
]


def _slim(obj: dict[str, Any]) -> dict[str, Any]:
    """The object as received, with embedded objects stored in their own rows reduced to ids."""
    raw = dict(obj)
    for key in ("user", "retweeted_status", "status", "reply_comment"):
        nested = raw.get(key)
        if isinstance(nested, dict):
            try:
                raw[key] = {"idstr": idstr(nested)}
            except ValueError:
                raw[key] = None
    return raw


def _has_author(obj: dict[str, Any]) -> bool:
    return isinstance(obj.get("user"), dict) and bool(
        obj["user"].get("idstr") or obj["user"].get("id")
    )


def _validate_item(obj: Any, kind: str) -> None:
    """A status or comment object has an id, an author and a readable created_at, or ValueError
    names what is missing."""
    if not isinstance(obj, dict):
        raise ValueError(f"a {kind} must be a JSON object")
    idstr(obj)
    if not _has_author(obj):
        raise ValueError(f"{kind} {obj.get('idstr') or obj.get('id')} has no user object")
    if not obj.get("created_at"):
        raise ValueError(f"{kind} {idstr(obj)} has no created_at")
    parse_time(obj["created_at"])


def _validate_status(obj: Any) -> None:
    _validate_item(obj, "status")


def _mentions(text: str, account: WeiboAccount) -> bool:
    return bool(account.screen_name) and f"@{account.screen_name}" in (text or "")


def ingest_statuses(
    account: WeiboAccount,
    statuses: list[dict[str, Any]],
    *,
    mention_stream: bool = False,
    analyse: bool = True,
) -> IngestResult:
    """Store a page of status objects for this brand account (see the module docstring).

    `mention_stream`: the statuses mention the brand (they came from statuses/mentions).
    Statuses without an id, author or valid created_at raise ValueError before anything is
    written. Atomic.
    """
    for obj in statuses:
        _validate_status(obj)
        if isinstance(obj.get("retweeted_status"), dict) and _has_author(obj["retweeted_status"]):
            _validate_status(obj["retweeted_status"])
    with transaction.atomic():
        return _ingest_statuses(account, statuses, mention_stream=mention_stream, analyse=analyse)


def _erased(model, keys: list[str]) -> dict[str, int]:
    """Stored posts or comments (idstr -> pk) whose author was erased. The platform serves them
    again on the next poll; storing them again would bring back the erased text and, through the
    author's uid, make the erased person a new customer (README "Erasure")."""
    return dict(
        model.objects.filter(idstr__in=keys, author__uid__startswith=TOMBSTONE_PREFIX).values_list(
            "idstr", "pk"
        )
    )


def _ingest_statuses(account, statuses, *, mention_stream, analyse) -> IngestResult:
    erased = _erased(
        WeiboPost,
        [idstr(o) for o in statuses]
        + [
            idstr(o["retweeted_status"])
            for o in statuses
            if isinstance(o.get("retweeted_status"), dict)
        ],
    )
    statuses = [o for o in statuses if idstr(o) not in erased]
    originals: dict[str, dict] = {}
    reposts: dict[str, dict] = {}
    mentioned: set[str] = set()
    for obj in statuses:
        key = idstr(obj)
        root = obj.get("retweeted_status")
        if isinstance(root, dict) and _has_author(root):
            if idstr(root) not in erased:
                originals.setdefault(idstr(root), root)
            reposts[key] = obj
        else:
            originals[key] = obj
        if mention_stream or _mentions(obj.get("text", ""), account):
            mentioned.add(key)
    for key in reposts:
        originals.pop(key, None)
    everything = {**originals, **reposts}
    first_seen: dict[str, Any] = {}
    for obj in sorted(everything.values(), key=lambda o: parse_time(o["created_at"])):
        first_seen.setdefault(idstr(obj["user"]), parse_time(obj["created_at"]))
    authors = [o["user"] for o in everything.values()]
    settled, existing = _known(list({idstr(u) for u in authors}), list(everything))
    users = upsert_users(authors, first_seen=first_seen, settled=settled)
    top_level = {idstr(o) for o in statuses}
    now = timezone.now()
    matcher = current_matcher() if analyse else None
    fresh: dict[str, list] = {}  # new posts analysed here -> their rule matches

    def row(obj, root_id=None) -> tuple:
        key = idstr(obj)
        author_uid = idstr(obj["user"])
        is_brand = author_uid == account.uid
        # Embedded originals only concern the brand when they are the brand's own posts.
        concerns = key in top_level or is_brand
        chain = repost_chain(obj.get("text", "")) if root_id else []
        text = str(obj.get("text") or "")
        mentions_brand = key in mentioned and not is_brand
        keywords, score, label = [], None, ""
        if matcher is not None and key in top_level and key not in existing and not is_brand:
            root = obj.get("retweeted_status") if root_id else None
            reposts_brand = isinstance(root, dict) and idstr(root["user"]) == account.uid
            found = analyse_text(text, mentions_brand, matcher, account, always=reposts_brand)
            keywords = found.keywords
            if found.matches is not None:
                score, label = found.score, found.label
                fresh[key] = found.matches
        return (
            key,
            str(obj.get("mid") or "")[:24],
            account.pk if concerns else None,
            users[author_uid].pk,
            text,
            parse_time(obj["created_at"]),
            is_brand,
            root_id,
            chain[0][:64] if chain else "",
            as_int(obj.get("reposts_count")),
            as_int(obj.get("comments_count")),
            as_int(obj.get("attitudes_count")),
            mentions_brand,
            keywords,
            score,
            label,
            _slim(obj),
            now,
        )

    update = ["text", "reposts_count", "comments_count", "attitudes_count", "raw", "fetched_at"]
    # A post stored earlier without the account (seen embedded) or the mention now concerns it.
    merge = {"account": "COALESCE({old}, {new})", "mentions_brand": "{old} OR {new}"}
    stored = upsert_rows(
        WeiboPost,
        _POST_COLUMNS,
        [row(o) for o in originals.values()],
        unique="idstr",
        update=update,
        merge=merge,
        returning=["idstr", "id"],
    )
    if reposts:
        root_ids = {**erased, **dict(stored)}
        stored_reposts = upsert_rows(
            WeiboPost,
            _POST_COLUMNS,
            [row(o, root_ids[idstr(o["retweeted_status"])]) for o in reposts.values()],
            unique="idstr",
            update=[*update, "root", "parent_name"],
            merge=merge,
            returning=["idstr", "id", "root", "parent_name", "parent"],
        )
        link_parents(
            [
                Repost(pk, root_id, name, parse_time(reposts[key]["created_at"]))
                for key, pk, root_id, name, parent_id in stored_reposts
                if parent_id is None
            ],
            {_screen_name(o["user"]) for o in reposts.values()},
        )
    result = IngestResult(
        created=len(set(everything) - existing), seen=len(everything), ids=sorted(top_level)
    )
    if analyse:
        # Posts seen before (embedded, or not about the brand then) get their turn now.
        result.analysed = analyse_posts(account, sorted(top_level & existing))
        items = list(
            WeiboPost.objects.filter(idstr__in=list(fresh)).select_related("author").defer("raw")
        )
        for item in items:
            item._matches = fresh[item.idstr]  # type: ignore[attr-defined]
        apply_analysis(account, items, post_kind, "post")
        result.analysed += len(items)
    return result


# -- comments -------------------------------------------------------------------------------


def _validate_comment(obj: Any) -> None:
    _validate_item(obj, "comment")
    if not isinstance(obj.get("status"), dict):
        raise ValueError(f"comment {idstr(obj)} has no status object")
    _validate_status(obj["status"])


def ingest_comments(
    account: WeiboAccount,
    comments: list[dict[str, Any]],
    *,
    mention_stream: bool = False,
    analyse: bool = True,
) -> IngestResult:
    """Store a page of comment objects (each with its `status`) for this brand account. Atomic.

    `mention_stream`: the comments @-mention the brand (comments/mentions). Bad objects raise
    ValueError before anything is written.
    """
    for obj in comments:
        _validate_comment(obj)
    with transaction.atomic():
        erased = _erased(WeiboComment, [idstr(c) for c in comments])
        comments = [c for c in comments if idstr(c) not in erased]
        statuses = {idstr(c["status"]): c["status"] for c in comments}
        brand_statuses = [s for s in statuses.values() if idstr(s["user"]) == account.uid]
        other_statuses = [s for s in statuses.values() if idstr(s["user"]) != account.uid]
        if brand_statuses:
            _ingest_statuses(account, brand_statuses, mention_stream=False, analyse=False)
        if other_statuses:
            # Someone else's post that a comment mentioning the brand is under: stored for the
            # thread, not as a post concerning the brand.
            _store_embedded_statuses(account, other_statuses)
        posts = dict(WeiboPost.objects.filter(idstr__in=list(statuses)).values_list("idstr", "pk"))
        first_seen: dict[str, Any] = {}
        for obj in sorted(comments, key=lambda o: parse_time(o["created_at"])):
            first_seen.setdefault(idstr(obj["user"]), parse_time(obj["created_at"]))
        users = upsert_users([c["user"] for c in comments], first_seen=first_seen)
        keys = [idstr(c) for c in comments]
        existing = set(WeiboComment.objects.filter(idstr__in=keys).values_list("idstr", flat=True))
        now = timezone.now()
        matcher = current_matcher() if analyse else None
        fresh: dict[str, list] = {}
        rows = {}
        for obj in comments:
            key = idstr(obj)
            reply = obj.get("reply_comment")
            rows[key] = WeiboComment(
                idstr=key,
                mid=str(obj.get("mid") or "")[:24],
                account=account,
                post_id=posts[idstr(obj["status"])],
                author_id=users[idstr(obj["user"])].pk,
                reply_to=idstr(reply) if isinstance(reply, dict) and reply.get("id") else "",
                text=str(obj.get("text") or ""),
                created_at=parse_time(obj["created_at"]),
                mentions_brand=(mention_stream or _mentions(obj.get("text", ""), account))
                and idstr(obj["user"]) != account.uid,
                raw=_slim(obj),
                fetched_at=now,
            )
            if matcher is not None and key not in existing and idstr(obj["user"]) != account.uid:
                fresh[key] = analyse_item(rows[key], matcher, account, always=True) or []
        WeiboComment.objects.bulk_create(
            list(rows.values()),
            update_conflicts=True,
            unique_fields=["idstr"],
            update_fields=["text", "raw", "fetched_at"],
            batch_size=500,
        )
        if mention_stream:
            WeiboComment.objects.filter(idstr__in=list(existing), mentions_brand=False).exclude(
                author__uid=account.uid
            ).update(mentions_brand=True)
        result = IngestResult(created=len(set(keys) - existing), seen=len(keys), ids=keys)
        if analyse:
            result.analysed = analyse_comments(account, sorted(set(keys) & existing))
            items = list(
                WeiboComment.objects.filter(idstr__in=list(fresh))
                .select_related("author")
                .defer("raw")
            )
            for item in items:
                item._matches = fresh[item.idstr]  # type: ignore[attr-defined]
            apply_analysis(account, items, lambda c: InteractionKind.COMMENT, "comment")
            result.analysed += len(items)
        return result


def _store_embedded_statuses(account: WeiboAccount, statuses: list[dict]) -> None:
    erased = _erased(WeiboPost, [idstr(s) for s in statuses])
    statuses = [s for s in statuses if idstr(s) not in erased]
    users = upsert_users(
        [s["user"] for s in statuses],
        first_seen={idstr(s["user"]): parse_time(s["created_at"]) for s in statuses},
    )
    WeiboPost.objects.bulk_create(
        [
            WeiboPost(
                idstr=idstr(s),
                mid=str(s.get("mid") or "")[:24],
                author_id=users[idstr(s["user"])].pk,
                text=str(s.get("text") or ""),
                created_at=parse_time(s["created_at"]),
                reposts_count=as_int(s.get("reposts_count")),
                comments_count=as_int(s.get("comments_count")),
                attitudes_count=as_int(s.get("attitudes_count")),
                raw=_slim(s),
            )
            for s in statuses
        ],
        update_conflicts=True,
        unique_fields=["idstr"],
        update_fields=["reposts_count", "comments_count", "attitudes_count", "fetched_at"],
    )
