"""The incidents mapping as a Python script plugin: Autotask Tickets ->
standardized incidents, the same events as the built-in Rust plugin.

Drop it into the plugin directory; the script contract is described in
host/script-runners/README.md. The host already read the id and the dates with
the resource's configuration; this script renames the known Ticket fields,
gathers the user-defined fields into `customFields`, and keeps every other
field under `extra`.
"""

# Autotask Ticket field -> standardized incident field, copied through as is.
FIELD_NAMES = {
    "ticketNumber": "ticketNumber",
    "title": "title",
    "description": "description",
    "status": "status",
    "priority": "priority",
    "issueType": "issueType",
    "subIssueType": "subIssueType",
    "ticketType": "ticketType",
    "source": "source",
    "queueID": "queueId",
    "companyID": "companyId",
    "contactID": "contactId",
    "assignedResourceID": "assignedResourceId",
    "dueDateTime": "dueDate",
    "completedDate": "completedDate",
    "resolvedDateTime": "resolvedDate",
}

# Autotask's list of `{name, value}` pairs, mapped to the `customFields` object.
USER_DEFINED_FIELDS = "userDefinedFields"


def describe():
    return {
        "resource": "incidents",
        "entity": "Tickets",
        "id_field": "id",
        "created_date_field": "createDate",
        "updated_date_field": "lastActivityDate",
    }


def map_record(record, meta, ctx):
    """One event a Ticket, of the default type, object id and date: only its payload is ours."""
    dates = ctx.poll.dates
    # The fields the host read for us are written once, in normalized form.
    consumed = (ctx.poll.id_field, dates.created_date_field, dates.updated_date_field)
    out = {"id": meta.object_id, "createdDate": meta.created, "updatedDate": meta.updated}
    extra = {}
    for name, value in record.items():
        if name in consumed:
            continue
        if name == USER_DEFINED_FIELDS:
            out["customFields"] = custom_fields(value)
        elif name in FIELD_NAMES:
            out[FIELD_NAMES[name]] = value
        else:
            extra[name] = value
    out["extra"] = extra
    return {"payload": out}


def custom_fields(value):
    """`[{"name": "Region", "value": "EU"}]` -> `{"Region": "EU"}`; `None` -> `{}`."""
    if value is None:
        return {}
    if not isinstance(value, list):
        raise ValueError(f"{USER_DEFINED_FIELDS} is not a list of {{name, value}}: it is {type(value).__name__}")
    fields = {}
    for index, pair in enumerate(value):
        if not isinstance(pair, dict) or not isinstance(pair.get("name"), str):
            raise ValueError(f"{USER_DEFINED_FIELDS} is not a list of {{name, value}}: item {index} has no string name")
        fields[pair["name"]] = pair.get("value")
    return fields
