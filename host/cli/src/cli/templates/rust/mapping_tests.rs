#[cfg(test)]
mod tests {
    use super::*;
    use autotask_events_sdk::{DatesConfiguration, EventType, PollConfiguration};
    use serde_json::{Value, json};

    /// A __ENTITY__ record as Autotask sends it.
    const SAMPLE: &str = r##"__SAMPLE__"##;

    fn context() -> Context {
        let described = describe();
        Context {
            instance_id: "1".into(),
            instance_name: "test".into(),
            element_key: "autotaskhelpdesk".into(),
            resource: described.resource,
            poll: PollConfiguration {
                id_field: described.id_field,
                dates: DatesConfiguration {
                    updated_date_field: described.updated_date_field,
                    updated_date_format: None,
                    updated_date_timezone: None,
                    created_date_field: described.created_date_field,
                    created_date_format: None,
                    created_date_timezone: None,
                },
                created_check_tolerance_seconds: 0,
            },
            previous_poll: "2024-01-01T00:00:00.000Z".into(),
            this_poll: "2024-01-01T00:01:00.000Z".into(),
        }
    }

    fn record(json: &Value) -> RawRecord {
        RawRecord {
            json: json.to_string(),
            object_id: "42".into(),
            created: Some("2023-12-31T10:00:00.000Z".into()),
            updated: Some("2024-01-01T00:00:30.407Z".into()),
            default_event_type: EventType::Updated,
        }
    }

    fn payload(event: &Event) -> Value {
        serde_json::from_str(&event.payload).expect("payload is JSON")
    }

    #[test]
    fn describes_the_resource_and_entity() {
        let described = describe();
        assert_eq!(described.resource, "__RESOURCE__");
        assert_eq!(described.entity, "__ENTITY__");
        assert_eq!(described.created_date_field.as_deref(), Some("__CREATED__"));
        assert_eq!(described.updated_date_field.as_deref(), Some("__UPDATED__"));
    }

    #[test]
    fn renames_the_main_fields_and_keeps_the_rest_under_extra() {
        let sample: Value = serde_json::from_str(SAMPLE).unwrap();
        let mut with_extra = sample.clone();
        with_extra["someOtherField"] = json!(7);
        let events = map_record(&context(), &record(&with_extra)).unwrap();
        let event = &events[0];
        assert_eq!(event.object_type, "__RESOURCE__");
        assert_eq!(event.event_date, "2024-01-01T00:00:30.407Z");
        let payload = payload(event);
        assert_eq!(payload["id"], "42");
        assert_eq!(payload["createdDate"], "2023-12-31T10:00:00.000Z");
        for (from, to) in FIELD_NAMES {
            if let Some(value) = sample.get(*from) {
                assert_eq!(&payload[*to], value, "{from} -> {to}");
            }
        }
        assert_eq!(payload["extra"]["someOtherField"], 7);
    }

    #[test]
    fn nulls_and_missing_fields_pass_through() {
        let (from, to) = FIELD_NAMES[0];
        let sparse = json!({"id": 42, from: null, "userDefinedFields": null});
        let payload = payload(&map_record(&context(), &record(&sparse)).unwrap()[0]);
        assert_eq!(payload[to], Value::Null);
        assert_eq!(payload["customFields"], json!({}));
        assert!(payload.get(FIELD_NAMES[1].1).is_none(), "a missing field stays missing");
    }

    #[test]
    fn user_defined_fields_become_an_object_and_a_malformed_list_fails_its_record() {
        let raw = record(&json!({"id": 42, "userDefinedFields": [
            {"name": "Region", "value": "EU"}, {"name": "PO", "value": null}, {"name": "Tag"}
        ]}));
        let event = &map_record(&context(), &raw).unwrap()[0];
        assert_eq!(payload(event)["customFields"], json!({"Region": "EU", "PO": null, "Tag": null}));
        let bad = record(&json!({"id": 1, "userDefinedFields": "Region=EU"}));
        assert!(map_record(&context(), &bad).unwrap_err().contains("userDefinedFields is not a list"));
    }
}
