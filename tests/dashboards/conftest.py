from .test_kpis_wechat import dataset  # noqa: F401  (the hand-built WeChat dataset fixture)
