import factory
from django.utils import timezone

from crm.models import Customer, Lead, Tag


class TagFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tag
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"标签{n}")


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    name = factory.Sequence(lambda n: f"客户{n}")
    city = "上海"
    created_at = factory.LazyFunction(timezone.now)


class LeadFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Lead

    customer = factory.SubFactory(CustomerFactory)
    title = factory.Sequence(lambda n: f"线索{n}")
