"""create → poll → events → delete, through a client that openapi-python-client
generated from the service's OpenAPI document (run by tests/e2e/openapi.rs).

    python flow.py BASE_URL AUTHORIZATION SIMULATOR_CONTROL_URL INSTANCE_BODY.json

The generated package must be importable (PYTHONPATH). Every call goes through
the generated functions and models; only the ticket change is sent to the
Autotask simulator's own control API, the "someone edits a ticket" side. Prints
one JSON line of what it saw; any surprise is an exception (exit status 1).
"""

import json
import sys
import time

import httpx
from autotask_events_management_api_client import AuthenticatedClient
from autotask_events_management_api_client.api.events import get_event, list_events
from autotask_events_management_api_client.api.instances import create_instance, delete_instance, get_instance
from autotask_events_management_api_client.api.polling import poll_instance
from autotask_events_management_api_client.models import (
    ApiError,
    Deleted,
    InstanceBody,
    InstanceView,
    MessageDetail,
    Polled,
)

WAIT_SECONDS = 20

base_url, authorization, simulator_control, body_path = sys.argv[1:5]
# The `authorization` scheme is the whole header value: no "Bearer" prefix.
# An answer whose status the document does not list raises.
client = AuthenticatedClient(base_url=base_url, token=authorization, prefix="", raise_on_unexpected_status=True)

with open(body_path, encoding="utf-8") as file:
    body = InstanceBody.from_dict(json.load(file))
created = create_instance.sync(client=client, body=body)
assert isinstance(created, InstanceView), f"createInstance: {created}"
instance_id = str(created.id)
assert created.token and not created.read_only, created

ticket = httpx.post(f"{simulator_control}/Tickets", json={"title": "Seen through the generated client"})
ticket.raise_for_status()
ticket_id = str(ticket.json()["id"])

polled = poll_instance.sync(instance_id, client=client)
assert isinstance(polled, Polled), f"pollInstance: {polled}"
assert polled.instance_id == instance_id
incidents = next(resource for resource in polled.resources if resource.name == "incidents")
assert incidents.ok, incidents.error


def about_the_ticket(message):
    return message.status == "delivered" and any(event.object_id == ticket_id for event in message.events)


deadline = time.monotonic() + WAIT_SECONDS
while True:
    messages = list_events.sync(instance_id, client=client, limit=100)
    assert isinstance(messages, list), f"listEvents: {messages}"
    delivered = [message for message in messages if about_the_ticket(message)]
    if delivered:
        break
    assert time.monotonic() < deadline, f"no delivered message about ticket {ticket_id}: {messages}"
    time.sleep(0.1)

detail = get_event.sync(instance_id, delivered[0].id, client=client)
assert isinstance(detail, MessageDetail), f"getEvent: {detail}"
assert any(attempt.delivered and attempt.status == 200 for attempt in detail.delivery_attempts), detail
posted = detail.body if isinstance(detail.body, str) else json.dumps(detail.body)
assert ticket_id in posted, "the body as posted names the ticket"

deleted = delete_instance.sync(instance_id, client=client)
assert isinstance(deleted, Deleted) and deleted.deleted, f"deleteInstance: {deleted}"
gone = get_instance.sync(instance_id, client=client)
assert isinstance(gone, ApiError), f"getInstance after delete: {gone}"

print(
    json.dumps(
        {
            "instance": instance_id,
            "ticket": ticket_id,
            "message": detail.id,
            "attempts": len(detail.delivery_attempts),
            "deleted": deleted.deleted,
            "afterDelete": gone.message,
        }
    )
)
