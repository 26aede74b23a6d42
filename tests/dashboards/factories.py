"""factory_boy factories of the dashboards rows (KPI snapshots, normally written by
`dashboards.snapshots.compute_snapshots`)."""

from datetime import timedelta

import factory
from django.utils import timezone

from dashboards.models import KpiSnapshot


class KpiSnapshotFactory(factory.django.DjangoModelFactory):
    """One day's value of one metric of one channel (all accounts unless `account`)."""

    class Meta:
        model = KpiSnapshot

    channel = "wechat"
    day = factory.Sequence(lambda n: timezone.localdate() - timedelta(days=n + 1))
    metric = "conversations"
    value = 0
