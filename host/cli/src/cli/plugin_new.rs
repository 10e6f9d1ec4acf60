//! `autotask-events plugin new NAME --lang rust|js|python|c [--resource R]
//! [--entity E] [--component]`: writes a working plugin project for a resource,
//! ready to edit.
//!
//! For JavaScript and Python the project is a *script plugin*: one `R.js` or
//! `R.py` the service runs as is, mapping the entity's main fields, with unit
//! tests for `node --test` / `python3 -m unittest`.
//!
//! Otherwise (Rust, C, or `--component`) it is a component project. The
//! templates are the examples under `examples/plugins/` (and, for Rust, the
//! built-in plugin's own source), compiled into the binary, so what a user
//! scaffolds is exactly what CI builds and checks against the built-in plugin.
//! The Rust template is adapted to the resource's entity; the JavaScript,
//! Python and C components map incidents only. Every component project gets
//! the WIT package in `wit/`, so it builds anywhere.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use autotask_sim::Entity;
use autotask_sim::sample::{self, SAMPLE_ENTITIES};
use clap::{Args, ValueEnum};

/// The languages with a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Lang {
    Rust,
    #[value(alias = "javascript")]
    Js,
    Python,
    C,
}

#[derive(Debug, Args)]
pub struct NewArgs {
    /// The project's name (letters, digits, `-`, `_`); also the directory made, unless --dir.
    pub name: String,
    /// The language of the plugin.
    #[arg(long, value_enum)]
    pub lang: Lang,
    /// The resource it maps, its events' object type: incidents, accounts, contacts, notes, or another with --entity.
    #[arg(long, default_value = "incidents")]
    pub resource: String,
    /// The Autotask entity it maps (default: the resource's): Tickets, Companies, Contacts or TicketNotes.
    #[arg(long)]
    pub entity: Option<String>,
    /// For js and python: a WebAssembly component project (built with npm or pip; incidents only)
    /// instead of a script plugin.
    #[arg(long)]
    pub component: bool,
    /// Where to write the project (default: ./NAME). Must not exist or be empty.
    #[arg(long)]
    pub dir: Option<PathBuf>,
}

/// The name every template's manifest carries, replaced by the project's.
const TEMPLATE_NAME: &str = "incidents-plugin";

/// The WIT package the component templates in other languages build against:
/// 0.1.0, which they need nothing newer than (and which keeps proving that
/// 0.1.0 components load).
const WIT: &str = include_str!("../../../../sdk/wit/plugin@0.1.0/plugin.wit");

/// The WIT package of the Rust SDK a Rust project carries.
const SDK_WIT: &str = include_str!("../../../../sdk/wit/plugin@0.2.0/plugin.wit");

/// `(path in the project, contents)` of each file of a language's template.
type Files = &'static [(&'static str, &'static str)];

const RUST: Files = &[
    ("Cargo.toml", include_str!("templates/rust/Cargo.toml")),
    ("build", include_str!("templates/rust/build")),
    ("README.md", include_str!("templates/rust/README.md")),
    (".gitignore", "target/\n*.wasm\n"),
    ("src/lib.rs", include_str!("../../../../plugins/incidents/src/lib.rs")),
    ("src/mapping.rs", include_str!("../../../../plugins/incidents/src/mapping.rs")),
    ("sdk/Cargo.toml", include_str!("templates/rust/sdk/Cargo.toml")),
    ("sdk/src/lib.rs", include_str!("../../../../sdk/src/lib.rs")),
    ("sdk/src/log.rs", include_str!("../../../../sdk/src/log.rs")),
    ("sdk/wit/plugin@0.2.0/plugin.wit", SDK_WIT),
];

const JAVASCRIPT: Files = &[
    ("package.json", include_str!("../../../../examples/plugins/javascript/package.json")),
    ("package-lock.json", include_str!("../../../../examples/plugins/javascript/package-lock.json")),
    ("build", include_str!("../../../../examples/plugins/javascript/build")),
    ("build.mjs", include_str!("../../../../examples/plugins/javascript/build.mjs")),
    ("src/plugin.js", include_str!("../../../../examples/plugins/javascript/src/plugin.js")),
    ("src/mapping.js", include_str!("../../../../examples/plugins/javascript/src/mapping.js")),
    ("src/raw-json.js", include_str!("../../../../examples/plugins/javascript/src/raw-json.js")),
    ("test/mapping.test.mjs", include_str!("../../../../examples/plugins/javascript/test/mapping.test.mjs")),
    ("test/raw-json.test.mjs", include_str!("../../../../examples/plugins/javascript/test/raw-json.test.mjs")),
    ("README.md", include_str!("../../../../examples/plugins/javascript/README.md")),
    (".gitignore", include_str!("../../../../examples/plugins/javascript/.gitignore")),
];
const PYTHON: Files = &[
    ("app.py", include_str!("../../../../examples/plugins/python/app.py")),
    ("mapping.py", include_str!("../../../../examples/plugins/python/mapping.py")),
    ("test_mapping.py", include_str!("../../../../examples/plugins/python/test_mapping.py")),
    ("requirements.txt", include_str!("../../../../examples/plugins/python/requirements.txt")),
    ("pyproject.toml", include_str!("../../../../examples/plugins/python/pyproject.toml")),
    ("build", include_str!("../../../../examples/plugins/python/build")),
    ("README.md", include_str!("../../../../examples/plugins/python/README.md")),
    (".gitignore", include_str!("../../../../examples/plugins/python/.gitignore")),
];
const C: Files = &[
    ("build", include_str!("../../../../examples/plugins/c/build")),
    ("README.md", include_str!("../../../../examples/plugins/c/README.md")),
    (".gitignore", include_str!("../../../../examples/plugins/c/.gitignore")),
    ("src/json.c", include_str!("../../../../examples/plugins/c/src/json.c")),
    ("src/json.h", include_str!("../../../../examples/plugins/c/src/json.h")),
    ("src/mapping.c", include_str!("../../../../examples/plugins/c/src/mapping.c")),
    ("src/mapping.h", include_str!("../../../../examples/plugins/c/src/mapping.h")),
    ("src/plugin.c", include_str!("../../../../examples/plugins/c/src/plugin.c")),
    ("tools/Cargo.toml", include_str!("../../../../examples/plugins/c/tools/Cargo.toml")),
    ("tools/Cargo.lock", include_str!("../../../../examples/plugins/c/tools/Cargo.lock")),
    ("tools/src/main.rs", include_str!("../../../../examples/plugins/c/tools/src/main.rs")),
];

fn files(lang: Lang) -> Files {
    match lang {
        Lang::Rust => RUST,
        Lang::Js => JAVASCRIPT,
        Lang::Python => PYTHON,
        Lang::C => C,
    }
}

pub(super) fn run(args: &NewArgs) -> ExitCode {
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from(&args.name));
    let made = Mapping::resolve(&args.resource, args.entity.as_deref())
        .and_then(|mapping| Ok((Kind::of(args.lang, args.component, &mapping)?, mapping)))
        .and_then(|(kind, mapping)| Ok((scaffold(&args.name, kind, &mapping, &dir)?, kind, mapping)));
    let (written, kind, mapping) = match made {
        Ok(made) => made,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::FAILURE;
        }
    };
    let dir = dir.display();
    let (resource, entity) = (&mapping.resource, mapping.entity.name());
    let sample = format!("autotask-events sim sample --entity {entity} --count 500 > records.json");
    match kind {
        Kind::Script(script) => {
            let file = format!("{resource}.{}", script.extension());
            println!("wrote a {} script plugin for {resource} ({entity}) in {dir} ({written} files)", script.name());
            println!("try it:  {sample} && autotask-events plugin check {dir}/{file} --records records.json");
            println!("use it:  copy {dir}/{file} into the service's plugin directory; it is live at the next batch");
        }
        Kind::Component(lang) => {
            println!("wrote a {lang:?} plugin project for {resource} ({entity}) in {dir} ({written} files)");
            println!("build it:  {dir}/build            (writes {resource}.wasm)");
            println!(
                "try it:    {sample} && autotask-events plugin check {dir}/{resource}.wasm --records records.json"
            );
        }
    }
    ExitCode::SUCCESS
}

/// A script plugin's language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Script {
    JavaScript,
    Python,
}

impl Script {
    fn name(self) -> &'static str {
        match self {
            Script::JavaScript => "JavaScript",
            Script::Python => "Python",
        }
    }

    fn extension(self) -> &'static str {
        match self {
            Script::JavaScript => "js",
            Script::Python => "py",
        }
    }
}

/// What kind of project `plugin new` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// One `RESOURCE.js` or `RESOURCE.py` file the service runs as is, with its tests.
    Script(Script),
    /// A project that builds a WebAssembly component.
    Component(Lang),
}

impl Kind {
    /// The kind for `--lang` and `--component`; the component templates of
    /// JavaScript, Python and C are the incidents examples, so they map only Tickets.
    pub fn of(lang: Lang, component: bool, mapping: &Mapping) -> Result<Kind, String> {
        let kind = match (lang, component) {
            (Lang::Js, false) => return Ok(Kind::Script(Script::JavaScript)),
            (Lang::Python, false) => return Ok(Kind::Script(Script::Python)),
            (Lang::Rust, _) => return Ok(Kind::Component(Lang::Rust)),
            (lang, _) => Kind::Component(lang),
        };
        if !mapping.is_incidents() {
            return Err(format!(
                "the {lang:?} component template maps only resource `incidents` (Tickets), not `{}` ({}); \
                 for another resource use --lang rust{}",
                mapping.resource,
                mapping.entity.name(),
                if lang == Lang::C { "" } else { ", or a script plugin (without --component)" },
            ));
        }
        Ok(kind)
    }
}

/// The resources `plugin new` knows, and the entity each maps.
const KNOWN_RESOURCES: &[(&str, Entity)] = &[
    ("incidents", Entity::Tickets),
    ("accounts", Entity::Companies),
    ("contacts", Entity::Contacts),
    ("notes", Entity::TicketNotes),
];

/// What a new plugin maps: a resource, the Autotask entity behind it, and the
/// fields of that entity it reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    pub resource: String,
    pub entity: Entity,
}

impl Mapping {
    /// The mapping for `--resource` and `--entity`: the entity of a known
    /// resource, unless `--entity` names another.
    pub fn resolve(resource: &str, entity: Option<&str>) -> Result<Mapping, String> {
        if resource.is_empty() || !resource.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Err(format!("--resource `{resource}` is not a resource name: use letters, digits, `-` and `_`"));
        }
        let known_entities = || SAMPLE_ENTITIES.map(|entity| entity.name()).join(", ");
        let entity = match entity {
            Some(name) => {
                Entity::from_path(name).filter(|entity| SAMPLE_ENTITIES.contains(entity)).ok_or_else(|| {
                    format!("--entity `{name}` is not an entity plugin new knows; known: {}", known_entities())
                })?
            }
            None => KNOWN_RESOURCES
                .iter()
                .find(|(known, _)| *known == resource)
                .map(|(_, entity)| *entity)
                .ok_or_else(|| {
                    let known: Vec<String> =
                        KNOWN_RESOURCES.iter().map(|(name, entity)| format!("{name} ({})", entity.name())).collect();
                    format!(
                        "--resource `{resource}` is not a resource plugin new knows; known: {}. \
                         For another resource, name its entity with --entity ({})",
                        known.join(", "),
                        known_entities()
                    )
                })?,
        };
        Ok(Mapping { resource: resource.to_owned(), entity })
    }

    /// Whether this is the built-in plugin's mapping.
    pub fn is_incidents(&self) -> bool {
        self.resource == "incidents" && self.entity == Entity::Tickets
    }

    /// The field holding each record's id.
    pub fn id_field(&self) -> &'static str {
        "id"
    }

    /// The field the simulator (and Autotask) sets when a record is created.
    pub fn created_field(&self) -> &'static str {
        self.entity.created_fields()[0]
    }

    /// The field the simulator (and Autotask) sets when a record changes.
    pub fn updated_field(&self) -> &'static str {
        self.entity.updated_fields()[0]
    }

    /// The entity's main fields: `(Autotask field, payload field)`.
    pub fn fields(&self) -> &'static [(&'static str, &'static str)] {
        match self.entity {
            Entity::Tickets => TICKET_FIELDS,
            Entity::Companies => COMPANY_FIELDS,
            Entity::Contacts => CONTACT_FIELDS,
            Entity::TicketNotes | Entity::DeletedTicketLogs => TICKET_NOTE_FIELDS,
        }
    }

    /// A record of the entity as the simulator makes them, pretty-printed.
    fn sample(&self) -> String {
        let records = sample::records(self.entity, 1, 1, sample::sample_epoch()).unwrap_or_default();
        serde_json::to_string_pretty(&records.first()).expect("a record serializes")
    }
}

/// The built-in incidents mapping's fields (`plugins/incidents`).
const TICKET_FIELDS: &[(&str, &str)] = &[
    ("ticketNumber", "ticketNumber"),
    ("title", "title"),
    ("description", "description"),
    ("status", "status"),
    ("priority", "priority"),
    ("issueType", "issueType"),
    ("subIssueType", "subIssueType"),
    ("ticketType", "ticketType"),
    ("source", "source"),
    ("queueID", "queueId"),
    ("companyID", "companyId"),
    ("contactID", "contactId"),
    ("assignedResourceID", "assignedResourceId"),
    ("dueDateTime", "dueDate"),
    ("completedDate", "completedDate"),
    ("resolvedDateTime", "resolvedDate"),
];

const COMPANY_FIELDS: &[(&str, &str)] = &[
    ("companyName", "name"),
    ("companyNumber", "number"),
    ("companyType", "type"),
    ("classification", "classification"),
    ("isActive", "active"),
    ("phone", "phone"),
    ("webAddress", "website"),
    ("address1", "address"),
    ("city", "city"),
    ("state", "state"),
    ("postalCode", "postalCode"),
    ("countryID", "countryId"),
    ("ownerResourceID", "ownerResourceId"),
    ("parentCompanyID", "parentCompanyId"),
];

const CONTACT_FIELDS: &[(&str, &str)] = &[
    ("firstName", "firstName"),
    ("lastName", "lastName"),
    ("title", "title"),
    ("emailAddress", "email"),
    ("phone", "phone"),
    ("mobilePhone", "mobilePhone"),
    ("companyID", "companyId"),
    ("isActive", "active"),
    ("primaryContact", "primaryContact"),
];

const TICKET_NOTE_FIELDS: &[(&str, &str)] = &[
    ("ticketID", "ticketId"),
    ("title", "title"),
    ("description", "description"),
    ("noteType", "noteType"),
    ("publish", "publish"),
    ("creatorResourceID", "creatorResourceId"),
];

/// Writes the project; returns how many files.
pub fn scaffold(name: &str, kind: Kind, mapping: &Mapping, dir: &Path) -> Result<usize, String> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(format!("`{name}` is not a project name: use letters, digits, `-` and `_`"));
    }
    if dir.read_dir().is_ok_and(|mut entries| entries.next().is_some()) {
        return Err(format!("{} exists and is not empty; choose another --dir", dir.display()));
    }
    let files = match kind {
        Kind::Script(script) => script_files(name, script, mapping),
        Kind::Component(lang) => component_files(name, lang, mapping),
    };
    for (path, contents) in &files {
        let target = dir.join(path);
        let parent = target.parent().expect("a file in the project");
        std::fs::create_dir_all(parent).map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
        std::fs::write(&target, contents).map_err(|e| format!("cannot write {}: {e}", target.display()))?;
        if path == "build" {
            make_executable(&target)?;
        }
    }
    Ok(files.len())
}

/// The files of a component project: the language's template, named after the
/// project and, for Rust, mapping `mapping`'s entity.
fn component_files(name: &str, lang: Lang, mapping: &Mapping) -> Vec<(String, String)> {
    let wit = [("wit/plugin.wit", WIT)];
    let extra: &[(&str, &str)] = if lang == Lang::Rust { &[] } else { &wit };
    let mut files: Vec<(String, String)> = files(lang)
        .iter()
        .chain(extra)
        .map(|(path, contents)| (path.to_string(), contents.replace(TEMPLATE_NAME, name)))
        .collect();
    if lang == Lang::Rust && !mapping.is_incidents() {
        for (path, contents) in &mut files {
            *contents = match path.as_str() {
                "src/mapping.rs" => rust_mapping(contents, mapping),
                "src/lib.rs" => contents
                    .replace(
                        "The default autotask-events plugin: maps Autotask Tickets to standardized incidents.",
                        &format!(
                            "An autotask-events plugin: maps Autotask {} to `{}`.",
                            mapping.entity.name(),
                            mapping.resource
                        ),
                    )
                    .replace("Incidents", "Mapping"),
                "README.md" => contents
                    .replace(
                        "The incidents mapping (Autotask Tickets to standardized incidents)",
                        &format!("A mapping of Autotask {} to `{}` events", mapping.entity.name(), mapping.resource),
                    )
                    .replace("incidents.wasm", &format!("{}.wasm", mapping.resource))
                    .replace("--entity Tickets", &format!("--entity {}", mapping.entity.name())),
                "build" => contents.replace("incidents.wasm", &format!("{}.wasm", mapping.resource)),
                _ => continue,
            };
        }
    }
    files
}

/// The incidents mapping's source, adapted to `mapping`: its field table, its
/// description and tests of its own.
fn rust_mapping(incidents: &str, mapping: &Mapping) -> String {
    let table_start = incidents.find("pub const FIELD_NAMES").expect("the incidents mapping has FIELD_NAMES");
    let table_end = table_start + incidents[table_start..].find("];\n").expect("FIELD_NAMES ends") + 3;
    let table: String = mapping.fields().iter().map(|(from, to)| format!("    ({from:?}, {to:?}),\n")).collect();
    let source = format!(
        "{}pub const FIELD_NAMES: &[(&str, &str)] = &[\n{table}];\n{}",
        &incidents[..table_start],
        &incidents[table_end..]
    );
    let tests_start = source.find("#[cfg(test)]").expect("the incidents mapping has tests");
    let (entity, singular) = (mapping.entity.name(), mapping.entity.singular());
    let description = format!(
        "Description {{\n        resource: {:?}.into(),\n        entity: {entity:?}.into(),\n        id_field: {:?}.into(),\n        \
         created_date_field: Some({:?}.into()),\n        updated_date_field: Some({:?}.into()),\n    }}",
        mapping.resource,
        mapping.id_field(),
        mapping.created_field(),
        mapping.updated_field()
    );
    let tests = RUST_MAPPING_TESTS
        .replace("__ENTITY__", entity)
        .replace("__RESOURCE__", &mapping.resource)
        .replace("__CREATED__", mapping.created_field())
        .replace("__UPDATED__", mapping.updated_field())
        .replace("__SAMPLE__", &mapping.sample());
    source[..tests_start]
        .replace(
            "//! Autotask Ticket → standardized incident object.",
            &format!("//! Autotask {singular} → `{}` object.", mapping.resource),
        )
        .replace(
            "/// Autotask Ticket field → standardized incident field",
            &format!("/// Autotask {singular} field → payload field"),
        )
        .replace("renames the known Ticket fields", &format!("renames the known {singular} fields"))
        .replace("Description::new(\"incidents\", \"Tickets\")", &description)
        + &tests
}

const RUST_MAPPING_TESTS: &str = include_str!("templates/rust/mapping_tests.rs");

const SCRIPT_JS: &str = include_str!("templates/script/plugin.js");
const SCRIPT_JS_TEST: &str = include_str!("templates/script/plugin.test.js");
const SCRIPT_PY: &str = include_str!("templates/script/plugin.py");
const SCRIPT_PY_TEST: &str = include_str!("templates/script/test_plugin.py");
const SCRIPT_README: &str = include_str!("templates/script/README.md");

/// A script plugin project: `RESOURCE.js` or `RESOURCE.py`, its unit tests and a README.
fn script_files(name: &str, script: Script, mapping: &Mapping) -> Vec<(String, String)> {
    let resource = mapping.resource.as_str();
    let file = format!("{resource}.{}", script.extension());
    let fields = mapping.fields();
    let companies = mapping.entity == Entity::Companies;
    let (source, test, test_file, test_command) = match script {
        Script::JavaScript => {
            let table: String = fields.iter().map(|(from, to)| format!("  {from}: '{to}',\n")).collect();
            let assertions: String = fields
                .iter()
                .map(|(from, to)| format!("  assert.deepEqual(event.payload.{to}, record.{from} ?? null);\n"))
                .collect();
            let event_type = if companies {
                "  // A custom event type (any upper-case name): a change to an inactive company is DEACTIVATED.\n  \
                 if (record.isActive === false) event.eventType = 'DEACTIVATED';\n"
            } else {
                "  // For a custom event type, set an upper-case name: event.eventType = 'ESCALATED';\n"
            };
            let event_type_test = if companies {
                "\ntest('a change to an inactive company is DEACTIVATED, to an active one the default type', () => {\n  \
                 assert.equal(plugin.mapRecord({ ...record, isActive: false }, meta, ctx).eventType, 'DEACTIVATED');\n  \
                 assert.equal(plugin.mapRecord({ ...record, isActive: true }, meta, ctx).eventType, undefined);\n});\n"
            } else {
                ""
            };
            let source = SCRIPT_JS.replace("__FIELDS__", &table).replace("__EVENT_TYPE__", event_type);
            let test = SCRIPT_JS_TEST
                .replace("__FIELD_ASSERTIONS__", &assertions)
                .replace("__EVENT_TYPE_TEST__", event_type_test);
            (source, test, format!("{resource}.test.js"), "node --test".to_owned())
        }
        Script::Python => {
            let table: String = fields.iter().map(|(from, to)| format!("    \"{from}\": \"{to}\",\n")).collect();
            let assertions: String = fields
                .iter()
                .map(|(from, to)| {
                    format!("        self.assertEqual(event[\"payload\"][\"{to}\"], RECORD.get(\"{from}\"))\n")
                })
                .collect();
            let event_type = if companies {
                "    # A custom event type (any upper-case name): a change to an inactive company is DEACTIVATED.\n    \
                 if record.get(\"isActive\") is False:\n        event[\"event_type\"] = \"DEACTIVATED\"\n"
            } else {
                "    # For a custom event type, set an upper-case name: event[\"event_type\"] = \"ESCALATED\"\n"
            };
            let event_type_test = if companies {
                "\n    def test_a_change_to_an_inactive_company_is_deactivated(self):\n        \
                 event = plugin.map_record({**RECORD, \"isActive\": False}, META, CTX)\n        \
                 self.assertEqual(event[\"event_type\"], \"DEACTIVATED\")\n        \
                 event = plugin.map_record({**RECORD, \"isActive\": True}, META, CTX)\n        \
                 self.assertNotIn(\"event_type\", event)\n"
            } else {
                ""
            };
            let source = SCRIPT_PY.replace("__FIELDS__", &table).replace("__EVENT_TYPE__", event_type);
            let sample = python_literal(&mapping.sample());
            let test = SCRIPT_PY_TEST
                .replace("__FIELD_ASSERTIONS__", &assertions)
                .replace("__EVENT_TYPE_TEST__", event_type_test)
                .replace("__SAMPLE__", &sample);
            (source, test, format!("test_{}.py", resource.replace('-', "_")), "python3 -m unittest".to_owned())
        }
    };
    let (null_field, null_payload_field) = fields[0];
    let fill = |text: &str| {
        text.replace("__FILE__", &file)
            .replace("__NAME__", name)
            .replace("__RESOURCE__", resource)
            .replace("__ENTITY__", mapping.entity.name())
            .replace("__ID_FIELD__", mapping.id_field())
            .replace("__CREATED__", mapping.created_field())
            .replace("__UPDATED__", mapping.updated_field())
            .replace("__NULL_FIELD__", null_field)
            .replace("__NULL_PAYLOAD_FIELD__", null_payload_field)
            .replace("__SAMPLE__", &mapping.sample())
    };
    let readme = SCRIPT_README
        .replace("__LANGUAGE__", script.name())
        .replace("__LANG__", if script == Script::JavaScript { "js" } else { "python" })
        .replace("__TEST_COMMAND__", &test_command)
        .replace(
            "__EVENT_TYPE_NOTE__",
            if companies { " A change to an inactive company is a custom `DEACTIVATED` event." } else { "" },
        );
    vec![(file.clone(), fill(&source)), (test_file, fill(&test)), ("README.md".into(), fill(&readme))]
}

/// JSON text as a Python literal: the same text, with Python's names for the constants.
fn python_literal(json: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(json).expect("the sample is JSON");
    python_value(&value, 0)
}

fn python_value(value: &serde_json::Value, indent: usize) -> String {
    use serde_json::Value;
    let pad = "    ".repeat(indent + 1);
    let end = "    ".repeat(indent);
    match value {
        Value::Null => "None".into(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        Value::Number(number) => number.to_string(),
        Value::String(text) => serde_json::to_string(text).expect("a string serializes"),
        Value::Array(items) if items.is_empty() => "[]".into(),
        Value::Array(items) => {
            let items: Vec<String> =
                items.iter().map(|item| format!("{pad}{},\n", python_value(item, indent + 1))).collect();
            format!("[\n{}{end}]", items.concat())
        }
        Value::Object(fields) => {
            let fields: Vec<String> = fields
                .iter()
                .map(|(key, item)| {
                    format!(
                        "{pad}{}: {},\n",
                        serde_json::to_string(key).expect("a key serializes"),
                        python_value(item, indent + 1)
                    )
                })
                .collect();
            format!("{{\n{}{end}}}", fields.concat())
        }
    }
}

fn make_executable(path: &Path) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| format!("cannot make {} executable: {e}", path.display()))?;
    }
    Ok(())
}
