"""A till for the POS API tests: a PosDevice of a store and an API client holding its key."""

from rest_framework.test import APIClient

from members.actions.pos import issue_pos_device_key
from members.models import PosDevice


def till_for(store, name: str = "1号收银台") -> APIClient:
    """An API client authenticated as a new POS device of `store` (client.device, client.key)."""
    device = PosDevice(store=store, name=name)
    key = issue_pos_device_key(device)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"PosDevice {key}")
    client.device, client.key = device, key
    return client
