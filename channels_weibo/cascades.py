"""Repost cascades (传播路径): the tree of a post's reposts and its shape.

Weibo flattens reposts: `retweeted_status` is always the root original. The hops in between
survive only as the `//@name:` chain in the text; ingestion turns the first name into `parent`
(`ingest.link_parents`). A repost whose parent is unknown hangs under the root.
"""

from dataclasses import dataclass, field
from datetime import datetime

from .models import WeiboPost


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
