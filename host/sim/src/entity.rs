//! The Autotask entities the simulator serves, and what it knows about each:
//! its name in URLs and errors, its fields (types and picklists) and which of
//! them record creation and change.

/// An entity the simulator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Entity {
    Tickets,
    Companies,
    Contacts,
    TicketNotes,
    DeletedTicketLogs,
}

/// What queries need to know about a table's records: their fields and the
/// name Autotask's error texts use. Entities have one, and so do the webhook
/// entities, whose webhooks are queried with the same machinery.
#[derive(Debug, Clone, Copy)]
pub struct Schema {
    /// The singular name in error texts (`Unable to find x in the Ticket Entity.`).
    pub singular: &'static str,
    pub fields: &'static [(&'static str, DataType)],
    /// Whether records carry `userDefinedFields`.
    pub user_defined_fields: bool,
}

impl Schema {
    /// The field `name` refers to (case-insensitively) and its type.
    pub fn field(&self, name: &str) -> Option<(&'static str, DataType)> {
        self.fields.iter().copied().find(|(field, _)| field.eq_ignore_ascii_case(name))
    }
}

impl From<Entity> for Schema {
    fn from(entity: Entity) -> Schema {
        Schema {
            singular: entity.singular(),
            fields: entity.fields(),
            user_defined_fields: entity.has_user_defined_fields(),
        }
    }
}

/// How a field is typed, as `entityInformation/fields` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataType {
    Integer,
    String,
    DateTime,
    Double,
    Boolean,
}

impl DataType {
    /// The name Autotask uses in `entityInformation/fields`.
    pub fn name(self) -> &'static str {
        match self {
            DataType::Integer => "integer",
            DataType::String => "string",
            DataType::DateTime => "datetime",
            DataType::Double => "double",
            DataType::Boolean => "boolean",
        }
    }
}

use DataType::{Boolean, DateTime, Double, Integer, String as Text};

const TICKET_FIELDS: &[(&str, DataType)] = &[
    ("id", Integer),
    ("ticketNumber", Text),
    ("title", Text),
    ("description", Text),
    ("status", Integer),
    ("priority", Integer),
    ("issueType", Integer),
    ("subIssueType", Integer),
    ("ticketType", Integer),
    ("source", Integer),
    ("queueID", Integer),
    ("companyID", Integer),
    ("contactID", Integer),
    ("assignedResourceID", Integer),
    ("createDate", DateTime),
    ("lastActivityDate", DateTime),
    ("lastTrackedModificationDateTime", DateTime),
    ("dueDateTime", DateTime),
    ("completedDate", DateTime),
    ("resolvedDateTime", DateTime),
    ("serviceLevelAgreementID", Integer),
    ("billingCodeID", Integer),
    ("estimatedHours", Double),
    ("hoursToBeScheduled", Double),
    ("creatorResourceID", Integer),
    ("creatorType", Integer),
    ("organizationalLevelAssociationID", Integer),
];

const COMPANY_FIELDS: &[(&str, DataType)] = &[
    ("id", Integer),
    ("companyName", Text),
    ("companyNumber", Text),
    ("companyType", Integer),
    ("classification", Integer),
    ("phone", Text),
    ("webAddress", Text),
    ("address1", Text),
    ("city", Text),
    ("state", Text),
    ("postalCode", Text),
    ("countryID", Integer),
    ("isActive", Boolean),
    ("ownerResourceID", Integer),
    ("parentCompanyID", Integer),
    ("createDate", DateTime),
    ("lastActivityDate", DateTime),
    ("lastTrackedModifiedDateTime", DateTime),
];

const CONTACT_FIELDS: &[(&str, DataType)] = &[
    ("id", Integer),
    ("companyID", Integer),
    ("firstName", Text),
    ("lastName", Text),
    ("title", Text),
    ("emailAddress", Text),
    ("phone", Text),
    ("mobilePhone", Text),
    ("isActive", Integer),
    ("primaryContact", Boolean),
    ("createDate", DateTime),
    ("lastActivityDate", DateTime),
    ("lastModifiedDate", DateTime),
];

const TICKET_NOTE_FIELDS: &[(&str, DataType)] = &[
    ("id", Integer),
    ("ticketID", Integer),
    ("title", Text),
    ("description", Text),
    ("noteType", Integer),
    ("publish", Integer),
    ("creatorResourceID", Integer),
    ("createDateTime", DateTime),
    ("lastActivityDate", DateTime),
];

const DELETED_TICKET_LOG_FIELDS: &[(&str, DataType)] = &[
    ("id", Integer),
    ("ticketID", Integer),
    ("ticketNumber", Text),
    ("ticketTitle", Text),
    ("deletedByResourceID", Integer),
    ("deletedDateTime", DateTime),
];

/// Ticket status picklist: Autotask's defaults.
pub const TICKET_STATUSES: &[(i64, &str)] = &[
    (1, "New"),
    (5, "Complete"),
    (7, "Waiting Customer"),
    (8, "In Progress"),
    (9, "Waiting Materials"),
    (10, "Dispatched"),
    (11, "Escalate"),
    (12, "Waiting Vendor"),
    (13, "Waiting Approval"),
];

/// Ticket priority picklist: Autotask's defaults.
pub const TICKET_PRIORITIES: &[(i64, &str)] = &[(1, "High"), (2, "Medium"), (3, "Low"), (4, "Critical")];

/// Company type picklist: Autotask's defaults.
pub const COMPANY_TYPES: &[(i64, &str)] =
    &[(1, "Customer"), (2, "Lead"), (3, "Prospect"), (4, "Dead"), (5, "Cancellation"), (6, "Vendor"), (7, "Partner")];

impl Entity {
    /// Every entity, in a stable order.
    pub const ALL: [Entity; 5] =
        [Entity::Tickets, Entity::Companies, Entity::Contacts, Entity::TicketNotes, Entity::DeletedTicketLogs];

    /// The entity a URL segment names; Autotask's URLs are case-insensitive.
    pub fn from_path(segment: &str) -> Option<Entity> {
        Entity::ALL.into_iter().find(|entity| entity.name().eq_ignore_ascii_case(segment))
    }

    /// The plural name used in URLs.
    pub fn name(self) -> &'static str {
        match self {
            Entity::Tickets => "Tickets",
            Entity::Companies => "Companies",
            Entity::Contacts => "Contacts",
            Entity::TicketNotes => "TicketNotes",
            Entity::DeletedTicketLogs => "DeletedTicketLogs",
        }
    }

    /// The singular name Autotask uses in error texts.
    pub fn singular(self) -> &'static str {
        match self {
            Entity::Tickets => "Ticket",
            Entity::Companies => "Company",
            Entity::Contacts => "Contact",
            Entity::TicketNotes => "TicketNote",
            Entity::DeletedTicketLogs => "DeletedTicketLog",
        }
    }

    /// The entity's standard fields and their types.
    pub fn fields(self) -> &'static [(&'static str, DataType)] {
        match self {
            Entity::Tickets => TICKET_FIELDS,
            Entity::Companies => COMPANY_FIELDS,
            Entity::Contacts => CONTACT_FIELDS,
            Entity::TicketNotes => TICKET_NOTE_FIELDS,
            Entity::DeletedTicketLogs => DELETED_TICKET_LOG_FIELDS,
        }
    }

    /// The standard field `name` refers to, matched case-insensitively as Autotask does.
    pub fn field(self, name: &str) -> Option<&'static str> {
        self.fields().iter().map(|(field, _)| *field).find(|field| field.eq_ignore_ascii_case(name))
    }

    /// Whether records of this entity carry `userDefinedFields`.
    pub fn has_user_defined_fields(self) -> bool {
        matches!(self, Entity::Tickets | Entity::Companies | Entity::Contacts)
    }

    /// The fields Autotask's field metadata marks required, besides `id` (from
    /// each entity's page in Autotask's REST API reference).
    pub fn required_fields(self) -> &'static [&'static str] {
        match self {
            Entity::Tickets => &["companyID", "dueDateTime", "priority", "status", "title"],
            Entity::Companies => &["companyName", "companyType", "ownerResourceID", "phone"],
            Entity::Contacts => &["companyID", "firstName", "isActive", "lastName"],
            Entity::TicketNotes => &["description", "noteType", "publish", "ticketID", "title"],
            Entity::DeletedTicketLogs => &[],
        }
    }

    /// Whether Autotask offers webhooks for the entity (Tickets, TicketNotes,
    /// Companies, Contacts and ConfigurationItems have them).
    pub fn supports_webhooks(self) -> bool {
        !matches!(self, Entity::DeletedTicketLogs)
    }

    /// Whether webhooks can subscribe to `field` (or show it always): every
    /// field of an entity with webhooks except its id and its creation and
    /// change stamps, which change with every event.
    pub fn is_webhook_field(self, field: &str) -> bool {
        self.supports_webhooks()
            && field != "id"
            && !self.created_fields().contains(&field)
            && !self.updated_fields().contains(&field)
    }

    /// The fields set to "now" when a record is created.
    pub fn created_fields(self) -> &'static [&'static str] {
        match self {
            Entity::Tickets | Entity::Companies | Entity::Contacts => &["createDate"],
            Entity::TicketNotes => &["createDateTime"],
            Entity::DeletedTicketLogs => &["deletedDateTime"],
        }
    }

    /// The fields set to "now" when a record is created or changed.
    pub fn updated_fields(self) -> &'static [&'static str] {
        match self {
            Entity::Tickets => &["lastActivityDate", "lastTrackedModificationDateTime"],
            Entity::Companies => &["lastActivityDate", "lastTrackedModifiedDateTime"],
            Entity::Contacts => &["lastActivityDate", "lastModifiedDate"],
            Entity::TicketNotes => &["lastActivityDate"],
            Entity::DeletedTicketLogs => &[],
        }
    }

    /// The picklist of a field, if it has one.
    pub fn picklist(self, field: &str) -> Option<&'static [(i64, &'static str)]> {
        match (self, field) {
            (Entity::Tickets, "status") => Some(TICKET_STATUSES),
            (Entity::Tickets, "priority") => Some(TICKET_PRIORITIES),
            (Entity::Companies, "companyType") => Some(COMPANY_TYPES),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_fields_match_case_insensitively() {
        assert_eq!(Entity::from_path("tickets"), Some(Entity::Tickets));
        assert_eq!(Entity::from_path("TICKETNOTES"), Some(Entity::TicketNotes));
        assert_eq!(Entity::from_path("Projects"), None);
        assert_eq!(Entity::Tickets.field("LASTACTIVITYDATE"), Some("lastActivityDate"));
        assert_eq!(Entity::Tickets.field("nope"), None);
    }

    #[test]
    fn every_required_field_is_a_field() {
        for entity in Entity::ALL {
            for field in entity.required_fields() {
                assert_eq!(entity.field(field), Some(*field), "{entity:?}.{field}");
            }
        }
    }

    #[test]
    fn every_change_field_is_a_datetime_field() {
        for entity in Entity::ALL {
            for field in entity.created_fields().iter().chain(entity.updated_fields()) {
                let (_, data_type) = entity.fields().iter().find(|(name, _)| name == field).unwrap();
                assert_eq!(*data_type, DataType::DateTime, "{entity:?}.{field}");
            }
        }
    }
}
