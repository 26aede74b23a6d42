"""One local server per platform, speaking its real API over loopback: `wechat` (WeChat API and
push server), `weibo` (Weibo API, fan-service pushes), `wechatpay` (WeChat Pay and WeChat OAuth).
Each runs as `python -m devtools.sandboxes.<name>` (the demo) or in a thread (tests)."""
