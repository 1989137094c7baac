//! A JSON Schema (draft 2020-12) of the manifest, for editors: with it,
//! VS Code and others complete and check `.qyv` files as they are typed.
//!
//! It is made from the decoder's own tables (`decode/`): each field's entry
//! holds its schema beside the code that reads it, and keyword values come
//! from the model's enums, so the schema names exactly the fields the
//! decoder accepts and requires. Some rules only the decoder can check (a
//! mount no wider than `permissions.fs`, network rule syntax in full); the
//! schema describes them in words.

use serde_json::{Map, Value, json};

use crate::decode::{MANIFEST, Section};

pub(crate) const NAME_PATTERN: &str = "^[a-z0-9][a-z0-9-]*$";
pub(crate) const SEMVER_PATTERN: &str = r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-((0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*)(\.(0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*))*))?(\+([0-9a-zA-Z-]+(\.[0-9a-zA-Z-]+)*))?$";
pub(crate) const SIZE_PATTERN: &str = r"^\s*[0-9]+(\.[0-9]+)?\s*([bB]|[kKmMgGtT][iI]?[bB])?\s*$";
pub(crate) const DURATION_PATTERN: &str = r"^\s*([0-9]+(\.[0-9]+)?\s*(ns|us|µs|ms|s|m|h)\s*)+$";

/// Keyword names with aliases appended (aliases stay valid for editors but
/// are not offered first).
pub(crate) fn with_aliases<T>(names: &[&str], aliases: &[(&str, T)]) -> Vec<String> {
    names
        .iter()
        .copied()
        .chain(aliases.iter().map(|(alias, _)| *alias))
        .map(String::from)
        .collect()
}

/// A section as a closed object (`additionalProperties: false`): its
/// fields' schemas, and those that must be given.
pub(crate) fn section<T>(section: &Section<T>) -> Value {
    let properties: Map<String, Value> = section
        .fields
        .iter()
        .map(|field| (field.name.to_string(), (field.schema)()))
        .collect();
    let required: Vec<&str> = section
        .fields
        .iter()
        .filter(|field| field.required.is_some())
        .map(|field| field.name)
        .collect();
    let mut object = json!({
        "type": "object",
        "description": section.description,
        "properties": properties,
        "additionalProperties": false,
    });
    if !required.is_empty() {
        object["required"] = json!(required);
    }
    object
}

/// The manifest's JSON Schema.
pub fn json_schema() -> Value {
    let mut root = section(&MANIFEST);
    root["$schema"] = json!("https://json-schema.org/draft/2020-12/schema");
    root["title"] = json!("Qyvol manifest (.qyv)");
    root
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_section_is_closed() {
        fn walk(value: &Value, path: &str) {
            let Some(props) = value.get("properties").and_then(Value::as_object) else {
                return;
            };
            assert_eq!(value["additionalProperties"], json!(false), "{path:?}");
            for (name, schema) in props {
                walk(schema, &format!("{path}.{name}"));
                if let Some(items) = schema.get("items") {
                    walk(items, &format!("{path}.{name}[]"));
                }
            }
        }
        let schema = json_schema();
        walk(&schema, "");
        assert_eq!(
            schema["properties"]["build"]["required"],
            json!(["command"])
        );
    }

    #[test]
    fn every_property_has_a_description() {
        fn walk(value: &Value, path: &str) {
            if let Some(props) = value.get("properties").and_then(Value::as_object) {
                for (name, schema) in props {
                    assert!(
                        schema
                            .get("description")
                            .and_then(Value::as_str)
                            .is_some_and(|d| !d.is_empty()),
                        "{path}.{name} has no description"
                    );
                    walk(schema, &format!("{path}.{name}"));
                    if let Some(items) = schema.get("items") {
                        walk(items, &format!("{path}.{name}[]"));
                    }
                }
            }
        }
        walk(&json_schema(), "");
    }

    #[test]
    fn schema_header_and_enums() {
        let schema = json_schema();
        assert_eq!(
            schema["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        assert_eq!(schema["required"], json!(["name", "entrypoint"]));
        assert_eq!(
            schema["properties"]["permissions"]["properties"]["fs"]["enum"],
            json!(["none", "read", "write", "full", "read-only", "read-write"])
        );
        assert_eq!(
            schema["properties"]["type"]["enum"],
            json!(["command", "http", "service", "gui"])
        );
        assert_eq!(
            schema["properties"]["fs"]["items"]["required"],
            json!(["target"])
        );
    }
}
