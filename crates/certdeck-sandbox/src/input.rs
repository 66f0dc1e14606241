//! Reading AWS JSON 1.1 request members, with AWS's validation errors.

use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use super::error::AwsError;

/// A request body: a JSON object.
pub struct Input<'a>(pub &'a Map<String, Value>);

impl<'a> Input<'a> {
    pub fn optional_str(&self, member: &str) -> Result<Option<&'a str>, AwsError> {
        match self.0.get(member) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(AwsError::serialization(format!(
                "{member}: expected a string"
            ))),
        }
    }

    /// A required string member; `InvalidParameterException` when missing or empty.
    pub fn required_str(&self, member: &str) -> Result<&'a str, AwsError> {
        match self.optional_str(member)? {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(AwsError::invalid_parameter(format!(
                "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
                lower_first(member)
            ))),
        }
    }

    pub fn optional_i64(&self, member: &str) -> Result<Option<i64>, AwsError> {
        match self.0.get(member) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| AwsError::serialization(format!("{member}: expected an integer"))),
            Some(_) => Err(AwsError::serialization(format!(
                "{member}: expected an integer"
            ))),
        }
    }

    pub fn optional_object(&self, member: &str) -> Result<Option<Input<'a>>, AwsError> {
        match self.0.get(member) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Object(o)) => Ok(Some(Input(o))),
            Some(_) => Err(AwsError::serialization(format!(
                "{member}: expected an object"
            ))),
        }
    }

    pub fn optional_str_list(&self, member: &str) -> Result<Option<Vec<&'a str>>, AwsError> {
        match self.0.get(member) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str().ok_or_else(|| {
                        AwsError::serialization(format!("{member}: expected a list of strings"))
                    })
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(AwsError::serialization(format!(
                "{member}: expected a list"
            ))),
        }
    }

    pub fn raw(&self, member: &str) -> Option<&'a Value> {
        self.0.get(member).filter(|v| !v.is_null())
    }
}

/// A timestamp as AWS JSON 1.1 sends it: epoch seconds.
pub fn epoch(at: OffsetDateTime) -> Value {
    json!((at.unix_timestamp_nanos() / 1_000_000) as f64 / 1000.0)
}

fn lower_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Random identifier characters (for pool ids and CloudFront names).
pub fn random_chars(alphabet: &[u8], count: usize) -> String {
    let mut bytes = vec![0u8; count];
    if openssl::rand::rand_bytes(&mut bytes).is_err() {
        // Fall back on uuid's randomness; ids only need to be unlikely to collide.
        bytes = uuid::Uuid::new_v4().as_bytes().repeat(count / 16 + 1);
    }
    bytes
        .iter()
        .take(count)
        .map(|b| alphabet[*b as usize % alphabet.len()] as char)
        .collect()
}
