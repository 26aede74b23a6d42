"""The WeChat API calls of user tags and mass sends (HTTP only), beside channels_wechat.client.

`MassClient` is a `WeChatClient` (same token cache, same retries of transient errors) except that
45009 (daily API limit) is not retried here: a mass send keeps its recipients for the next day
instead of sleeping (channels_wechat.mass.sending).
"""

from typing import Any

from crm.inbox import SendError

from .client import WeChatClient

# Daily limit and "no mass quota": wait for the next allowed time, never retry now.
WAIT_ERRORS = {"45009", "45028"}
TRANSIENT = {"-1"}


class DuplicateSend(SendError):
    """45065: this clientmsgid was sent already; `msg_id` is that first job's id."""

    def __init__(self, msg_id: str):
        super().__init__("45065", "clientmsgid exist")
        self.msg_id = msg_id


class MassClient(WeChatClient):
    def _checked(self, result: dict[str, Any]) -> dict[str, Any]:
        """The base client's check, except: 45009/45028 are not transient here, and 45065 is
        DuplicateSend with the msg_id WeChat answers beside the errcode."""
        code = str(result.get("errcode", 0))
        if code == "45065":
            raise DuplicateSend(str(result.get("msg_id", "")))
        if code != "0":
            raise SendError(code, str(result.get("errmsg", "")), transient=code in TRANSIENT)
        return result

    # --- user tags ----------------------------------------------------------------------------

    def create_tag(self, name: str) -> int:
        """`tags/create`; the new tag's id (45157: the name exists; 45056: 100 tags already)."""
        return int(self.call("POST", "cgi-bin/tags/create", {"tag": {"name": name}})["tag"]["id"])

    def get_tags(self) -> list[dict[str, Any]]:
        """`tags/get`: [{id, name, count}] of every tag of the account."""
        return list(self.call("GET", "cgi-bin/tags/get").get("tags", []))

    def tag_members(self, tag_id: int) -> list[str]:
        """Every openid holding the tag (`user/tag/get`, 10,000 a page, next_openid paging)."""
        openids: list[str] = []
        next_openid = ""
        while True:
            page = self.call(
                "POST", "cgi-bin/user/tag/get", {"tagid": tag_id, "next_openid": next_openid}
            )
            batch = (page.get("data") or {}).get("openid", [])
            openids += batch
            next_openid = page.get("next_openid", "")
            if not batch or not next_openid:
                return openids

    def batch_tag(self, tag_id: int, openids: list[str], *, untag: bool = False) -> None:
        """`tags/members/batchtagging` (or batchuntagging): at most 50 openids a call."""
        path = "batchuntagging" if untag else "batchtagging"
        self.call("POST", f"cgi-bin/tags/members/{path}", {"openid_list": openids, "tagid": tag_id})

    def user_tags(self, openid: str) -> list[int]:
        """`tags/getidlist`: the tag ids one follower holds."""
        result = self.call("POST", "cgi-bin/tags/getidlist", {"openid": openid})
        return [int(t) for t in result.get("tagid_list", [])]

    # --- mass sends ---------------------------------------------------------------------------

    def add_draft(self, articles: list[dict[str, Any]]) -> str:
        """`draft/add`: the draft's media_id (used by mass sends of type mpnews)."""
        return str(self.call("POST", "cgi-bin/draft/add", {"articles": articles})["media_id"])

    def mass_send(self, openids: list[str], message: dict[str, Any], clientmsgid: str) -> dict:
        """`message/mass/send` to 2..10,000 openids; {msg_id, msg_data_id}."""
        body = {"touser": openids, **message, "send_ignore_reprint": 0, "clientmsgid": clientmsgid}
        return self.call("POST", "cgi-bin/message/mass/send", body)

    def mass_sendall(self, tag_id: int | None, message: dict[str, Any], clientmsgid: str) -> dict:
        """`message/mass/sendall` to a tag's members (or every follower when tag_id is None)."""
        target = {"is_to_all": True} if tag_id is None else {"is_to_all": False, "tag_id": tag_id}
        body = {"filter": target, **message, "send_ignore_reprint": 0, "clientmsgid": clientmsgid}
        return self.call("POST", "cgi-bin/message/mass/sendall", body)

    def mass_preview(self, openid: str, message: dict[str, Any]) -> dict:
        """`message/mass/preview` to one follower (not counted in the monthly quota)."""
        return self.call("POST", "cgi-bin/message/mass/preview", {"touser": openid, **message})
