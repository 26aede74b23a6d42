"""`manage.py rebuild_attribution`: work out again every Weibo lead's campaign credit
(channels_weibo.LeadCredit) and every event's first and last touch (EventTouch). The actions
keep both right; run it after loading data around them (an import, a restore, a bulk load)."""

import time

from django.core.management.base import BaseCommand

from channels_weibo.lead_credit import credit_all
from dashboards.kpis.attribution_store import rebuild


class Command(BaseCommand):
    help = "Rebuild the stored attribution: the leads' campaign credit and each event's touches."

    def handle(self, *args, **options):
        started = time.perf_counter()
        credited = credit_all()
        events = rebuild()
        self.stdout.write(
            f"{credited} lead(s) credited to a campaign, {events} event(s) attributed in "
            f"{time.perf_counter() - started:.1f} s"
        )
