"""CRM customer tags <-> WeChat user tags, for the followers of one official account.

Direction rules (so that the two sides never fight):
- push (`push_tag`): WeChat follows the CRM. The WeChat tag of a crm Tag is created if needed
  (`tags/create`; a tag of that name already at WeChat is adopted) and its members are made
  exactly the subscribed followers whose customer holds the crm tag (`batchtagging` /
  `batchuntagging`, 50 openids a call). Mass sends by tag use this.
- pull (`pull_tags`, `pull_follower_tags`): tags set in the WeChat console reach the CRM. Every
  WeChat tag gets a crm Tag of the same name and its members' customers get that tag; pull only
  adds (a tag removed in the CRM is removed at WeChat by the next push).
WeChat errors come out as crm.inbox.SendError with WeChat's errcode; a refusal before any call
(a name over 30 characters) is a ValidationError.
"""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.actions.customers import attach_tags
from crm.inbox import SendError
from crm.models import Tag

from .mass_client import MassClient
from .models import OfficialAccount, WeChatUser
from .models.mass import MAX_OPENIDS_PER_TAG_CALL, WeChatTag

MAX_TAG_NAME = 30
SYSTEM_TAG_IDS = {0, 1, 2}  # WeChat's own (黑名单, 星标组...): never mirrored


def _chunks(items: list[str], size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


def ensure_wechat_tag(account: OfficialAccount, tag: Tag, client: MassClient) -> WeChatTag:
    """The WeChat tag mirroring `tag`, created at WeChat on first use. Own transaction."""
    linked = WeChatTag.objects.filter(account=account, tag=tag).first()
    if linked:
        return linked
    if len(tag.name) > MAX_TAG_NAME:
        raise ValidationError(
            {"tag": _("WeChat tag names have at most 30 characters: %(name)s") % {"name": tag.name}}
        )
    try:
        wechat_id = client.create_tag(tag.name)
    except SendError as exc:
        if exc.code != "45157":  # the name exists at WeChat: adopt that tag
            raise
        wechat_id = next(int(t["id"]) for t in client.get_tags() if t["name"] == tag.name)
    linked, _created = WeChatTag.objects.get_or_create(
        account=account, tag=tag, defaults={"wechat_id": wechat_id, "name": tag.name}
    )
    return linked


def push_tag(account: OfficialAccount, tag: Tag, client: MassClient | None = None) -> dict:
    """Make the WeChat tag's members equal the subscribed followers whose customer holds `tag`.

    Returns {"tagged": n, "untagged": n}. Each API call commits on its own: a failure half way
    leaves WeChat partly synced and the next push finishes it (the sets are recomputed).
    Raises ValidationError (name too long) or SendError (WeChat's refusal, e.g. 45059).
    """
    client = client or MassClient(account)
    linked = ensure_wechat_tag(account, tag, client)
    wanted = set(
        WeChatUser.objects.filter(account=account, subscribed=True, customer__tags=tag).values_list(
            "openid", flat=True
        )
    )
    current = set(client.tag_members(linked.wechat_id))
    add, remove = sorted(wanted - current), sorted(current - wanted)
    for chunk in _chunks(add, MAX_OPENIDS_PER_TAG_CALL):
        client.batch_tag(linked.wechat_id, chunk)
    for chunk in _chunks(remove, MAX_OPENIDS_PER_TAG_CALL):
        client.batch_tag(linked.wechat_id, chunk, untag=True)
    linked.member_count, linked.synced_at = len(wanted), timezone.now()
    linked.save(update_fields=["member_count", "synced_at"])
    return {"tagged": len(add), "untagged": len(remove)}


def pull_tags(account: OfficialAccount, client: MassClient | None = None) -> int:
    """Mirror every WeChat tag of the account into the CRM and tag its members' customers.

    Returns the number of (customer, tag) links offered. One transaction for the writes, after
    all the reads from WeChat. Raises SendError for WeChat's refusal (nothing written then).
    """
    client = client or MassClient(account)
    remote = [t for t in client.get_tags() if int(t["id"]) not in SYSTEM_TAG_IDS]
    members = {int(t["id"]): client.tag_members(int(t["id"])) for t in remote}
    with transaction.atomic():
        pairs: list[tuple[int, str]] = []
        for item in remote:
            wechat_id, name = int(item["id"]), str(item["name"])
            linked = WeChatTag.objects.filter(account=account, wechat_id=wechat_id).first()
            if linked is None:
                tag, _created = Tag.objects.get_or_create(name=name[:64])
                linked, _created = WeChatTag.objects.update_or_create(
                    account=account, tag=tag, defaults={"wechat_id": wechat_id, "name": name}
                )
            customers = WeChatUser.objects.filter(
                account=account, openid__in=members[wechat_id], customer__isnull=False
            ).values_list("customer_id", flat=True)
            pairs += [(c, linked.tag.name) for c in customers]
            linked.member_count, linked.synced_at = len(members[wechat_id]), timezone.now()
            linked.save(update_fields=["member_count", "synced_at"])
        return attach_tags(pairs)


def pull_follower_tags(user: WeChatUser, client: MassClient | None = None) -> list[str]:
    """Give the follower's customer the crm tags mirroring its WeChat tags (`tags/getidlist`).
    Only tags already mirrored (WeChatTag) are applied. Returns their names, sorted."""
    client = client or MassClient(user.account)
    ids = client.user_tags(user.openid)
    names = sorted(
        WeChatTag.objects.filter(account=user.account, wechat_id__in=ids).values_list(
            "tag__name", flat=True
        )
    )
    if user.customer_id:
        attach_tags((user.customer_id, name) for name in names)
    return names
