"""Chat media in an S3-compatible store (MEDIA_STORAGE=s3, django-storages), against moto's S3
server over loopback: a picture pushed through the webhook lands in the bucket, privately, and
the inbox serves it to an agent."""

import json
import os
import subprocess
import sys

import boto3
import pytest
from django.test import Client
from moto.server import ThreadedMotoServer

from crm.models import Message, MessageMedia
from devtools.sandboxes.wechat_media import register_media, sample_image

from .conftest import APPID, post_push, push_xml
from .test_media import CommittingClient

BUCKET = "crm-chat-media"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing-key", "AWS_SECRET_ACCESS_KEY": "testing-secret"}


@pytest.fixture(scope="module")
def s3_endpoint():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(s3_endpoint):
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )
    client.create_bucket(Bucket=BUCKET)
    yield client
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)


def s3_settings(endpoint: str) -> dict:
    """settings.STORAGES["chat_media"] as crm.settings builds it from the environment."""
    env = {
        **os.environ,
        **CREDENTIALS,
        "MEDIA_STORAGE": "s3",
        "AWS_STORAGE_BUCKET_NAME": BUCKET,
        "AWS_S3_ENDPOINT_URL": endpoint,
        "AWS_S3_REGION_NAME": "us-east-1",
        "DJANGO_SETTINGS_MODULE": "crm.settings",
    }
    code = "from django.conf import settings; import json; print(json.dumps(settings.STORAGES['chat_media']))"
    done = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


def test_settings_choose_s3_from_the_environment(s3_endpoint):
    config = s3_settings(s3_endpoint)
    assert config == {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": BUCKET,
            "endpoint_url": s3_endpoint,
            "region_name": "us-east-1",
            "access_key": "testing-key",
            "secret_key": "testing-secret",
            "location": "chat",
            "default_acl": "private",
            "file_overwrite": False,
        },
    }


def test_a_picture_is_stored_in_s3_and_served_to_staff_only(
    s3, s3_endpoint, settings, wechat_sandbox, django_capture_on_commit_callbacks, agent_user
):
    settings.STORAGES = {**settings.STORAGES, "chat_media": s3_settings(s3_endpoint)}
    picture = sample_image("S3 PICTURE")
    media_id = register_media(wechat_sandbox.state, APPID, "image", picture)
    hook = CommittingClient(raise_request_exception=False)
    hook.capture = django_capture_on_commit_callbacks
    response = post_push(hook, push_xml(msg_type="image", msg_id="8001", media_id=media_id))
    assert response.status_code == 200
    media = MessageMedia.objects.get(message=Message.objects.get(platform_msg_id="8001"))
    assert media.status == "stored"
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"])
    assert keys == sorted([f"chat/{media.file}", f"chat/{media.thumbnail}"])
    assert s3.get_object(Bucket=BUCKET, Key=f"chat/{media.file}")["Body"].read() == picture
    grants = s3.get_object_acl(Bucket=BUCKET, Key=f"chat/{media.file}")["Grants"]
    assert [g["Grantee"].get("URI") for g in grants] == [None]  # the owner only: no AllUsers
    agent = Client()
    agent.force_login(agent_user)
    served = agent.get(f"/inbox/media/{media.pk}/file/")
    assert (served.status_code, served["Content-Type"]) == (200, "image/jpeg")
    assert b"".join(served.streaming_content) == picture
    assert Client().get(f"/inbox/media/{media.pk}/file/").status_code == 302
