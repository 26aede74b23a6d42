import io

from crm.models import Customer, Interaction, Lead, Segment, Tag
from devtools.demo import crm as demo


def test_demo_data_loads_through_real_actions_once(db, marketing_user):
    out = io.StringIO()
    demo.load(out)
    counts = (Customer.objects.count(), Lead.objects.count(), Interaction.objects.count())
    assert Customer.objects.filter(first_channel="import").count() == 306
    assert Tag.objects.count() == 10
    assert Segment.objects.count() == 2
    assert Lead.objects.exclude(owner=marketing_user).count() == 0  # round-robin over one user
    assert Customer.objects.filter(stage="lead").exists()
    demo.load(out)
    assert (Customer.objects.count(), Lead.objects.count(), Interaction.objects.count()) == counts
    assert "already loaded" in out.getvalue()
