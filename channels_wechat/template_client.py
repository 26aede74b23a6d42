"""The template-message and subscription-message API (HTTP only), on top of WeChatClient.

Paths (api.weixin.qq.com): `cgi-bin/template/get_all_private_template`,
`cgi-bin/template/api_add_template`, `cgi-bin/message/template/send` (with `client_msg_id`:
WeChat sends one message per openid + client_msg_id, for 10 minutes), `wxaapi/newtmpl/gettemplate`
(the subscription templates; type 2 one-time, 3 long-term) and `cgi-bin/message/subscribe/bizsend`.

Sends are called once (`call_once`): a refused token is replaced, but -1 and 45009 are returned
to the caller as SendError, which keeps the recipient for a later attempt (backoff, next day)
instead of sleeping inside the call.
"""

from typing import Any

from crm.inbox import SendError

from .client import TOKEN_ERRORS, WeChatClient


class TemplateClient(WeChatClient):
    def call_once(self, method: str, path: str, body: dict | None = None, **params) -> dict:
        """An authenticated call made once (a refused token is replaced once)."""
        for attempt in range(2):
            token = self.access_token()
            try:
                return self._http(method, path, {"access_token": token, **params}, body)
            except SendError as exc:
                if exc.code in TOKEN_ERRORS and attempt == 0:
                    self.invalidate_token(token)
                    continue
                raise
        raise AssertionError("unreachable")

    def private_templates(self) -> list[dict[str, Any]]:
        return self.call("GET", "cgi-bin/template/get_all_private_template").get(
            "template_list", []
        )

    def add_template(self, short_id: str, keyword_names: list[str] | None = None) -> str:
        body: dict[str, Any] = {"template_id_short": short_id}
        if keyword_names:
            body["keyword_name_list"] = keyword_names
        return str(self.call("POST", "cgi-bin/template/api_add_template", body)["template_id"])

    def subscribe_templates(self) -> list[dict[str, Any]]:
        return self.call("GET", "wxaapi/newtmpl/gettemplate").get("data", [])

    def send_template(
        self,
        openid: str,
        template_id: str,
        data: dict[str, str],
        *,
        url: str = "",
        miniprogram: dict | None = None,
        client_msg_id: str = "",
    ) -> str:
        """`message/template/send`; returns WeChat's msgid (the MsgID of TEMPLATESENDJOBFINISH)."""
        body: dict[str, Any] = {
            "touser": openid,
            "template_id": template_id,
            "data": {name: {"value": value} for name, value in data.items()},
        }
        if url:
            body["url"] = url
        if miniprogram:
            body["miniprogram"] = miniprogram
        if client_msg_id:
            body["client_msg_id"] = client_msg_id
        result = self.call_once("POST", "cgi-bin/message/template/send", body)
        return str(result.get("msgid", ""))

    def send_subscribe(
        self,
        openid: str,
        template_id: str,
        data: dict[str, str],
        *,
        page: str = "",
        miniprogram: dict | None = None,
    ) -> str:
        """`message/subscribe/bizsend` (43101: the follower has no consent left)."""
        body: dict[str, Any] = {
            "touser": openid,
            "template_id": template_id,
            "data": {name: {"value": value} for name, value in data.items()},
        }
        if page:
            body["page"] = page
        if miniprogram:
            body["miniprogram"] = miniprogram
        result = self.call_once("POST", "cgi-bin/message/subscribe/bizsend", body)
        return str(result.get("msgid", ""))
