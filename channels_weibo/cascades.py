"""Repost cascades (传播路径): the tree of a post's reposts and its shape.

Weibo flattens reposts: `retweeted_status` is always the root original. The hops in between
survive only as the `//@name:` chain in the text; ingestion turns the first name into `parent`
(`link_parents`, called by ingestion). A repost whose parent is unknown hangs under the root.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, NamedTuple

from django.db import connection

from crm.bulk import placeholders, update_rows

from .models import WeiboPost, WeiboUser


@dataclass
class Node:
    pk: int
    idstr: str
    author: str
    author_uid: str
    followers: int
    text: str
    created_at: datetime
    children: list["Node"] = field(default_factory=list)
    size: int = 1  # this node and everything under it

    def as_dict(self) -> dict:
        return {
            "idstr": self.idstr,
            "author": self.author,
            "author_uid": self.author_uid,
            "followers": self.followers,
            "text": self.text,
            "created_at": self.created_at.isoformat(),
            "size": self.size,
            "children": [c.as_dict() for c in self.children],
        }


def build_cascade(post: WeiboPost) -> dict:
    """The cascade of an original post: tree, depth, breadth, largest sub-cascades, spreaders.

    depth = longest root-to-leaf path in hops (0 = no reposts); breadth = the widest level;
    sub-cascades = the root's children by size; spreaders = reposters ranked by how many reposts
    came after theirs (their subtree size minus one).
    """
    root = post.root or post
    rows = list(WeiboPost.objects.filter(pk=root.pk).select_related("author")) + list(
        WeiboPost.objects.filter(root=root).select_related("author").order_by("created_at", "pk")
    )
    nodes = {
        r.pk: Node(
            r.pk,
            r.idstr,
            r.author.screen_name,
            r.author.uid,
            r.author.followers_count,
            r.text,
            r.created_at,
        )
        for r in rows
    }
    for r in rows[1:]:
        parent = nodes.get(r.parent_id) if r.parent_id else None
        (parent or nodes[root.pk]).children.append(nodes[r.pk])

    levels: list[int] = []

    def walk(node: Node, depth: int) -> int:
        if len(levels) <= depth:
            levels.append(0)
        levels[depth] += 1
        node.size = 1 + sum(walk(child, depth + 1) for child in node.children)
        return node.size

    walk(nodes[root.pk], 0)
    tree = nodes[root.pk]
    reposters = [n for n in nodes.values() if n.pk != root.pk]
    spreaders = sorted(reposters, key=lambda n: (-(n.size - 1), -n.followers, n.idstr))
    return {
        "root": tree.as_dict(),
        "reposts": len(reposters),
        "depth": len(levels) - 1,
        "breadth": max(levels[1:], default=0),
        "reach": sum(n.followers for n in nodes.values()),
        "largest_subcascades": [
            {"idstr": c.idstr, "author": c.author, "size": c.size}
            for c in sorted(tree.children, key=lambda c: (-c.size, c.idstr))[:5]
        ],
        "top_spreaders": [
            {
                "author": n.author,
                "uid": n.author_uid,
                "followers": n.followers,
                "reposts_after": n.size - 1,
            }
            for n in spreaders[:5]
            if n.size > 1
        ],
    }


# -- linking reposts to their parents ----------------------------------------------------------


def _aware(value) -> Any:
    """A timestamp read with raw SQL as an aware datetime (SQLite gives naive UTC text)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class Repost(NamedTuple):
    """A stored repost as `link_parents` needs it."""

    pk: int
    root_id: int
    parent_name: str  # the first name of its `//@` chain
    created_at: Any


def link_parents(new: list[Repost], authors: set[str]) -> int:
    """Attach reposts to the repost they came from, by the first name of their `//@` chain.

    The parent is the latest repost of the same root by a user with that screen name, made
    before the child; a name that is the root's author, or unknown, leaves the parent empty
    (the child hangs under the root). Returns how many parents were set.

    `new`: the reposts just stored that have no parent yet; `authors`: the screen names of all
    reposts just stored. Polling reads newest first, so a child often arrives before its
    parent: older orphans waiting for one of `authors` are looked at too, and no other orphan
    can have gained a parent. Two indexed reads (the orphans by root and name, the candidate
    parents by author), however large the cascade, then one UPDATE.
    """
    roots = {r.root_id for r in new}
    if not roots:
        return 0
    orphans = {r.pk: r for r in new if r.parent_name}
    # An older orphan waits for one of `authors`: every name a parent may have is known now.
    wanted = {r.parent_name for r in orphans.values()} | authors
    if not wanted:
        return 0
    quote = connection.ops.quote_name
    post, user = quote(WeiboPost._meta.db_table), quote(WeiboUser._meta.db_table)
    names: dict[int, str] = {}
    with connection.cursor() as cursor:
        # Names to users, and the older orphans (a partial index on root and name); raw SQL,
        # as the ORM took longer to build these queries than PostgreSQL to answer them.
        cursor.execute(
            f"SELECT 'u', id, screen_name, 0, NULL FROM {user} WHERE screen_name IN ({placeholders(wanted)})"  # noqa: S608
            f" UNION ALL SELECT 'o', id, parent_name, root_id, created_at FROM {post}"
            f" WHERE root_id IN ({placeholders(roots)}) AND parent_id IS NULL AND parent_name <> ''"
            f" AND parent_name IN ({placeholders(authors or {''})})",
            [*wanted, *roots, *(authors or {""})],
        )
        for kind, pk, name, root_id, created_at in cursor.fetchall():
            if kind == "u":
                names[pk] = name
            else:
                orphans.setdefault(pk, Repost(pk, root_id, name, _aware(created_at)))
        needed = {o.parent_name for o in orphans.values()}
        authors_needed = [pk for pk, name in names.items() if name in needed]
        if not authors_needed:
            return 0
        # Then those users' reposts of these roots: a (root, author) index, however large the
        # cascade and whatever the planner thinks of a cascade grown since the last ANALYZE.
        cursor.execute(
            f"SELECT root_id, author_id, created_at, id FROM {post}"  # noqa: S608
            f" WHERE root_id IN ({placeholders(roots)}) AND author_id IN ({placeholders(authors_needed)})",
            [*roots, *authors_needed],
        )
        found = cursor.fetchall()
    candidates: dict[tuple[int, str], list[tuple[Any, int]]] = {}
    for root_id, author_id, created_at, pk in found:
        candidates.setdefault((root_id, names[author_id]), []).append((_aware(created_at), pk))
    linked = []
    for orphan in orphans.values():
        earlier = [
            (created_at, pk)
            for created_at, pk in candidates.get((orphan.root_id, orphan.parent_name), ())
            if created_at < orphan.created_at and pk != orphan.pk
        ]
        if earlier:
            linked.append(WeiboPost(pk=orphan.pk, parent_id=max(earlier)[1]))
    return update_rows(linked, ["parent"])
