//! The webhooks clients register (`TicketWebhooks`, `CompanyWebhooks`, ...):
//! what each watches, which fields it subscribes to, whom it ignores, and the
//! delivery state its callouts need (sequence numbers, pending callouts,
//! consecutive failures). Sending lives in `callouts.rs`; the HTTP answers in
//! `webhook_api.rs`.
//!
//! Each webhook is also kept as a JSON record, in the camelCase shape `GET`
//! answers, so the query, filter and paging machinery of the entities serves
//! `{X}Webhooks/query` unchanged.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};
use tokio::sync::mpsc::UnboundedSender;

use crate::entity::{DataType, Entity, Schema};
use crate::sample::{self, Seeded};

/// An entity webhooks can watch; names its family of webhook entities
/// (`TicketWebhooks`, `TicketWebhookFields`, `TicketWebhookUdfFields`,
/// `TicketWebhookExcludedResources`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    Tickets,
    Companies,
    Contacts,
    ConfigurationItems,
    TicketNotes,
}

/// One of the entities of a webhook family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Part {
    /// The webhooks themselves (`TicketWebhooks`).
    Webhooks,
    /// The standard fields a webhook subscribes to or always shows (`TicketWebhookFields`).
    Fields,
    /// The user-defined fields likewise (`TicketWebhookUdfFields`).
    UdfFields,
    /// The resources whose changes a webhook ignores (`TicketWebhookExcludedResources`).
    ExcludedResources,
}

impl Part {
    const ALL: [Part; 4] = [Part::Webhooks, Part::Fields, Part::UdfFields, Part::ExcludedResources];

    /// The segment naming a child collection under a webhook (`.../TicketWebhooks/7/Fields`).
    pub fn child_from_path(segment: &str) -> Option<Part> {
        [Part::Fields, Part::UdfFields, Part::ExcludedResources]
            .into_iter()
            .find(|part| part.child_name().eq_ignore_ascii_case(segment))
    }

    /// The name of the child collection in paths and statistics.
    pub fn child_name(self) -> &'static str {
        match self {
            Part::Webhooks => "",
            Part::Fields => "Fields",
            Part::UdfFields => "UdfFields",
            Part::ExcludedResources => "ExcludedResources",
        }
    }

    /// The fields of the part's records, as `entityInformation/fields` lists them.
    pub fn fields(self) -> &'static [(&'static str, DataType)] {
        match self {
            Part::Webhooks => WEBHOOK_FIELDS,
            Part::Fields => FIELD_FIELDS,
            Part::UdfFields => UDF_FIELD_FIELDS,
            Part::ExcludedResources => EXCLUDED_RESOURCE_FIELDS,
        }
    }

    /// The fields a create must carry, besides `id`.
    pub fn required_fields(self) -> &'static [&'static str] {
        match self {
            Part::Webhooks => &["name", "webhookUrl", "deactivationUrl"],
            Part::Fields => &["webhookID", "fieldID"],
            Part::UdfFields => &["webhookID", "udfFieldID"],
            Part::ExcludedResources => &["webhookID", "resourceID"],
        }
    }

    /// The fields only the API sets.
    pub fn read_only_fields(self) -> &'static [&'static str] {
        match self {
            Part::Webhooks => &["id", "isReady", "ownerResourceID", "webhookGUID"],
            _ => &["id", "webhookID"],
        }
    }
}

use DataType::{Boolean, Integer, String as Text};

const WEBHOOK_FIELDS: &[(&str, DataType)] = &[
    ("id", Integer),
    ("isActive", Boolean),
    ("isReady", Boolean),
    ("name", Text),
    ("webhookUrl", Text),
    ("deactivationUrl", Text),
    ("secretKey", Text),
    ("isSubscribedToCreateEvents", Boolean),
    ("isSubscribedToUpdateEvents", Boolean),
    ("isSubscribedToDeleteEvents", Boolean),
    ("sendThresholdExceededNotification", Boolean),
    ("notificationEmailAddress", Text),
    ("ownerResourceID", Integer),
    ("webhookGUID", Text),
];

const FIELD_FIELDS: &[(&str, DataType)] = &[
    ("id", Integer),
    ("webhookID", Integer),
    ("fieldID", Integer),
    ("isSubscribedField", Boolean),
    ("isDisplayAlwaysField", Boolean),
];

const UDF_FIELD_FIELDS: &[(&str, DataType)] = &[
    ("id", Integer),
    ("webhookID", Integer),
    ("udfFieldID", Integer),
    ("isSubscribedField", Boolean),
    ("isDisplayAlwaysField", Boolean),
];

const EXCLUDED_RESOURCE_FIELDS: &[(&str, DataType)] =
    &[("id", Integer), ("webhookID", Integer), ("resourceID", Integer)];

/// The fields of a ConfigurationItem, which the simulator has no records of:
/// enough to subscribe to, so `ConfigurationItemWebhooks` work as the others
/// do (they just never call out).
const CONFIGURATION_ITEM_FIELDS: &[(&str, DataType)] = &[
    ("id", Integer),
    ("companyID", Integer),
    ("configurationItemType", Integer),
    ("productID", Integer),
    ("referenceTitle", Text),
    ("referenceNumber", Text),
    ("serialNumber", Text),
    ("isActive", Boolean),
    ("installDate", DataType::DateTime),
    ("warrantyExpirationDate", DataType::DateTime),
    ("createDate", DataType::DateTime),
    ("lastActivityDate", DataType::DateTime),
];

/// User-defined field ids start here, apart from standard field ids, so a
/// client that mixes the two up is refused rather than subscribed to the wrong field.
const FIRST_UDF_FIELD_ID: i64 = 1001;

impl Kind {
    pub const ALL: [Kind; 5] =
        [Kind::Tickets, Kind::Companies, Kind::Contacts, Kind::ConfigurationItems, Kind::TicketNotes];

    /// The webhook entity a URL segment names, and which of its family
    /// (`ticketwebhookfields` → Tickets, Fields); case-insensitive as Autotask is.
    pub fn from_path(segment: &str) -> Option<(Kind, Part)> {
        Kind::ALL
            .into_iter()
            .flat_map(|kind| Part::ALL.into_iter().map(move |part| (kind, part)))
            .find(|(kind, part)| kind.entity_name(*part).eq_ignore_ascii_case(segment))
    }

    /// The webhooks of `entity`'s changes, if it has any.
    pub fn of(entity: Entity) -> Option<Kind> {
        Kind::ALL.into_iter().find(|kind| kind.entity() == Some(entity))
    }

    /// The webhook entity's name in URLs (`TicketWebhooks`).
    pub fn name(self) -> &'static str {
        self.entity_name(Part::Webhooks)
    }

    /// The name of one entity of the family.
    pub fn entity_name(self, part: Part) -> &'static str {
        let names: [&str; 4] = match self {
            Kind::Tickets => {
                ["TicketWebhooks", "TicketWebhookFields", "TicketWebhookUdfFields", "TicketWebhookExcludedResources"]
            }
            Kind::Companies => [
                "CompanyWebhooks",
                "CompanyWebhookFields",
                "CompanyWebhookUdfFields",
                "CompanyWebhookExcludedResources",
            ],
            Kind::Contacts => [
                "ContactWebhooks",
                "ContactWebhookFields",
                "ContactWebhookUdfFields",
                "ContactWebhookExcludedResources",
            ],
            Kind::ConfigurationItems => [
                "ConfigurationItemWebhooks",
                "ConfigurationItemWebhookFields",
                "ConfigurationItemWebhookUdfFields",
                "ConfigurationItemWebhookExcludedResources",
            ],
            Kind::TicketNotes => [
                "TicketNoteWebhooks",
                "TicketNoteWebhookFields",
                "TicketNoteWebhookUdfFields",
                "TicketNoteWebhookExcludedResources",
            ],
        };
        names[Part::ALL.iter().position(|p| *p == part).expect("every part is listed")]
    }

    /// The singular name of a webhook in error texts (`TicketWebhook`).
    pub fn singular(self) -> &'static str {
        match self {
            Kind::Tickets => "TicketWebhook",
            Kind::Companies => "CompanyWebhook",
            Kind::Contacts => "ContactWebhook",
            Kind::ConfigurationItems => "ConfigurationItemWebhook",
            Kind::TicketNotes => "TicketNoteWebhook",
        }
    }

    /// What queries over the webhooks need.
    pub fn schema(self) -> Schema {
        Schema { singular: self.singular(), fields: WEBHOOK_FIELDS, user_defined_fields: false }
    }

    /// The simulated entity whose changes the webhooks hear; `None` for
    /// ConfigurationItems, of which the simulator has no records.
    pub fn entity(self) -> Option<Entity> {
        match self {
            Kind::Tickets => Some(Entity::Tickets),
            Kind::Companies => Some(Entity::Companies),
            Kind::Contacts => Some(Entity::Contacts),
            Kind::ConfigurationItems => None,
            Kind::TicketNotes => Some(Entity::TicketNotes),
        }
    }

    /// `EntityType` in a callout: the target entity's singular name.
    pub fn entity_type(self) -> &'static str {
        match self.entity() {
            Some(entity) => entity.singular(),
            None => "ConfigurationItem",
        }
    }

    /// The supported webhook fields of the target entity, by field id: its
    /// position in the entity's field list, which never changes.
    pub fn webhook_fields(self) -> Vec<(i64, &'static str)> {
        let supported = |name: &str| match self.entity() {
            Some(entity) => entity.is_webhook_field(name),
            None => !["id", "createDate", "lastActivityDate"].contains(&name),
        };
        let fields = self.entity().map_or(CONFIGURATION_ITEM_FIELDS, Entity::fields);
        (1..).zip(fields.iter().map(|(name, _)| *name)).filter(|(_, name)| supported(name)).collect()
    }

    /// The user-defined fields of the target entity, by id.
    pub fn udf_fields(self) -> Vec<(i64, &'static str)> {
        let names: &[&str] = match self.entity() {
            Some(entity) if entity.has_user_defined_fields() => &sample::USER_DEFINED_FIELD_NAMES,
            _ => &[],
        };
        (FIRST_UDF_FIELD_ID..).zip(names.iter().copied()).collect()
    }
}

/// The id of a standard field as webhooks number it, or `None` when webhooks
/// cannot use it: what `isSupportedWebhookField` reports.
pub fn field_id(entity: Entity, field: &str) -> Option<i64> {
    let kind = Kind::of(entity)?;
    kind.webhook_fields().into_iter().find(|(_, name)| *name == field).map(|(id, _)| id)
}

/// A field (standard or user-defined) on a webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldChoice {
    /// `fieldID` or `udfFieldID`.
    pub field_id: i64,
    /// A change to it triggers an update callout.
    pub subscribed: bool,
    /// It is sent in every callout, changed or not.
    pub display_always: bool,
}

/// The settings a client writes.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub active: bool,
    pub name: String,
    pub url: String,
    pub deactivation_url: String,
    /// Write-only: never answered.
    pub secret: Option<String>,
    pub on_create: bool,
    pub on_update: bool,
    pub on_delete: bool,
    pub threshold_notification: bool,
    pub email: Option<String>,
}

/// A registered webhook.
#[derive(Debug)]
pub struct Webhook {
    pub id: i64,
    pub kind: Kind,
    pub guid: String,
    pub owner: i64,
    pub settings: Settings,
    /// Standard fields by child id.
    pub fields: BTreeMap<i64, FieldChoice>,
    /// User-defined fields by child id.
    pub udf_fields: BTreeMap<i64, FieldChoice>,
    /// Excluded resource ids by child id.
    pub excluded: BTreeMap<i64, i64>,
    /// The last callout's `SequenceNumber`.
    pub sequence: u64,
    /// Failed attempts since the last success.
    pub consecutive_failures: u32,
    /// Callouts not yet delivered nor dropped, by sequence number.
    pub pending: BTreeMap<u64, Pending>,
    /// The queue of its callouts' first attempts, once one was made.
    pub queue: Option<UnboundedSender<crate::callouts::Callout>>,
}

/// What the error log needs of a pending callout when it is dropped.
#[derive(Debug, Clone)]
pub struct Pending {
    pub action: &'static str,
    pub record_id: i64,
    pub attempts: u32,
}

impl Webhook {
    /// Whether it has a subscribed field: only then can it call out.
    pub fn is_ready(&self) -> bool {
        self.fields.values().chain(self.udf_fields.values()).any(|choice| choice.subscribed)
    }

    /// The record `GET` answers; the secret key is never shown.
    pub fn to_json(&self) -> Value {
        let s = &self.settings;
        json!({
            "id": self.id,
            "isActive": s.active,
            "isReady": self.is_ready(),
            "name": s.name,
            "webhookUrl": s.url,
            "deactivationUrl": s.deactivation_url,
            "secretKey": Value::Null,
            "isSubscribedToCreateEvents": s.on_create,
            "isSubscribedToUpdateEvents": s.on_update,
            "isSubscribedToDeleteEvents": s.on_delete,
            "sendThresholdExceededNotification": s.threshold_notification,
            "notificationEmailAddress": s.email,
            "ownerResourceID": self.owner,
            "webhookGUID": self.guid,
        })
    }

    /// The items of a child collection, ordered by id.
    pub fn children(&self, part: Part) -> Vec<Value> {
        let choice = |id: &i64, choice: &FieldChoice, key: &str| {
            json!({
                "id": id, "webhookID": self.id, key: choice.field_id,
                "isSubscribedField": choice.subscribed, "isDisplayAlwaysField": choice.display_always,
            })
        };
        match part {
            Part::Webhooks => Vec::new(),
            Part::Fields => self.fields.iter().map(|(id, c)| choice(id, c, "fieldID")).collect(),
            Part::UdfFields => self.udf_fields.iter().map(|(id, c)| choice(id, c, "udfFieldID")).collect(),
            Part::ExcludedResources => self
                .excluded
                .iter()
                .map(|(id, resource)| json!({"id": id, "webhookID": self.id, "resourceID": resource}))
                .collect(),
        }
    }

    /// Forgets its pending callouts; returns them, oldest first, for the log.
    pub fn drop_pending(&mut self) -> Vec<(u64, Pending)> {
        std::mem::take(&mut self.pending).into_iter().collect()
    }
}

/// Every webhook, by kind and id.
pub struct Registry {
    hooks: HashMap<Kind, BTreeMap<i64, Webhook>>,
    /// Each webhook as `GET` answers it, for queries.
    tables: HashMap<Kind, BTreeMap<i64, Value>>,
    next_child_id: i64,
    /// Makes the webhooks' GUIDs.
    rng: Seeded,
}

impl Registry {
    /// No webhooks yet; GUIDs come from `seed`.
    pub fn new(seed: u64) -> Registry {
        Registry {
            hooks: Kind::ALL.into_iter().map(|kind| (kind, BTreeMap::new())).collect(),
            tables: Kind::ALL.into_iter().map(|kind| (kind, BTreeMap::new())).collect(),
            next_child_id: 1,
            rng: Seeded::new(seed ^ 0x00E1_B00C),
        }
    }

    /// The webhooks of `kind` as JSON records, ordered by id.
    pub fn table(&self, kind: Kind) -> &BTreeMap<i64, Value> {
        &self.tables[&kind]
    }

    pub fn get(&self, kind: Kind, id: i64) -> Option<&Webhook> {
        self.hooks[&kind].get(&id)
    }

    /// Changes webhook `id` and refreshes its JSON record.
    pub fn change<T>(&mut self, kind: Kind, id: i64, change: impl FnOnce(&mut Webhook) -> T) -> Option<T> {
        let hook = self.hooks.get_mut(&kind)?.get_mut(&id)?;
        let result = change(hook);
        let record = hook.to_json();
        self.tables.get_mut(&kind).expect("every kind has a table").insert(id, record);
        Some(result)
    }

    /// The webhooks listening to `kind`'s changes, for callouts (which do not
    /// change what the JSON record shows).
    pub fn hooks_mut(&mut self, kind: Kind) -> impl Iterator<Item = &mut Webhook> {
        self.hooks.get_mut(&kind).expect("every kind has webhooks").values_mut()
    }

    /// Registers a webhook owned by `owner`; returns its id.
    pub fn create(&mut self, kind: Kind, settings: Settings, owner: i64) -> i64 {
        let id = self.hooks[&kind].keys().next_back().copied().unwrap_or(0) + 1;
        let guid = self.guid();
        let hook = Webhook {
            id,
            kind,
            guid,
            owner,
            settings,
            fields: BTreeMap::new(),
            udf_fields: BTreeMap::new(),
            excluded: BTreeMap::new(),
            sequence: 0,
            consecutive_failures: 0,
            pending: BTreeMap::new(),
            queue: None,
        };
        self.tables.get_mut(&kind).expect("every kind has a table").insert(id, hook.to_json());
        self.hooks.get_mut(&kind).expect("every kind has webhooks").insert(id, hook);
        id
    }

    /// Removes webhook `id`, its children and its queue.
    pub fn remove(&mut self, kind: Kind, id: i64) -> Option<Webhook> {
        self.tables.get_mut(&kind)?.remove(&id);
        self.hooks.get_mut(&kind)?.remove(&id)
    }

    /// A fresh id for a child item (fields, UDF fields, excluded resources share one sequence).
    pub fn next_child_id(&mut self) -> i64 {
        let id = self.next_child_id;
        self.next_child_id += 1;
        id
    }

    /// A random GUID in the usual 8-4-4-4-12 form (version 4 bits set).
    fn guid(&mut self) -> String {
        let (a, b) = (self.rng.next_u64(), self.rng.next_u64());
        let hex = format!("{a:016x}{b:016x}");
        format!("{}-{}-4{}-a{}-{}", &hex[0..8], &hex[8..12], &hex[13..16], &hex[17..20], &hex[20..32])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn family_names_resolve_case_insensitively() {
        assert_eq!(Kind::from_path("ticketwebhooks"), Some((Kind::Tickets, Part::Webhooks)));
        assert_eq!(Kind::from_path("TICKETWEBHOOKFIELDS"), Some((Kind::Tickets, Part::Fields)));
        assert_eq!(Kind::from_path("CompanyWebhookUdfFields"), Some((Kind::Companies, Part::UdfFields)));
        assert_eq!(
            Kind::from_path("ConfigurationItemWebhookExcludedResources"),
            Some((Kind::ConfigurationItems, Part::ExcludedResources))
        );
        assert_eq!(Kind::from_path("Tickets"), None);
        assert_eq!(Part::child_from_path("udffields"), Some(Part::UdfFields));
    }

    #[test]
    fn webhook_fields_leave_out_the_id_and_the_stamps() {
        let fields = Kind::Tickets.webhook_fields();
        let names: Vec<&str> = fields.iter().map(|(_, name)| *name).collect();
        assert!(names.contains(&"status") && names.contains(&"title"));
        for stamp in ["id", "createDate", "lastActivityDate", "lastTrackedModificationDateTime"] {
            assert!(!names.contains(&stamp), "{stamp}");
        }
        assert_eq!(field_id(Entity::Tickets, "status"), Some(5));
        assert_eq!(field_id(Entity::Tickets, "createDate"), None);
        assert_eq!(field_id(Entity::DeletedTicketLogs, "ticketID"), None);
        assert!(!Kind::ConfigurationItems.webhook_fields().is_empty());
        assert_eq!(Kind::Tickets.udf_fields()[0], (1001, "Region"));
        assert!(Kind::TicketNotes.udf_fields().is_empty());
    }

    #[test]
    fn guids_look_like_guids_and_differ() {
        let mut registry = Registry::new(1);
        let (a, b) = (registry.guid(), registry.guid());
        assert_ne!(a, b);
        let lengths: Vec<usize> = a.split('-').map(str::len).collect();
        assert_eq!(lengths, [8, 4, 4, 4, 12], "{a}");
    }
}
