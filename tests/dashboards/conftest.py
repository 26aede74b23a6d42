from .test_kpis_wechat import dataset  # noqa: F401  (the hand-built WeChat dataset fixture)
from .test_kpis_weibo import weibo  # noqa: F401  (the hand-built Weibo dataset fixture)
