//! A Cognito user pool id (`us-east-1_AbCdEf123`, PRODUCT.md §1), parsed once where it
//! enters: from a path, or from what AWS returns.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Cognito's limit on a pool id's length.
const MAX_LEN: usize = 55;

/// `<region>_<letters and digits>`: AWS's ids (`us-east-1_AbCdEf123`) and moto's
/// longer ones (`us-east-1_` and 32 hex digits).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct UserPoolId(String);

impl UserPoolId {
    pub fn parse(input: &str) -> Result<Self, String> {
        let invalid = |why: &str| format!("{input:?} is not a user pool id: {why}");
        if input.len() > MAX_LEN {
            return Err(invalid("too long"));
        }
        let Some((region, suffix)) = input.split_once('_') else {
            return Err(invalid("expected <region>_<id>"));
        };
        if !is_region(region) {
            return Err(invalid("the part before _ is not a region"));
        }
        if suffix.is_empty() || !suffix.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(invalid("the part after _ must be letters and digits"));
        }
        Ok(Self(input.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The region the pool lives in (the part before `_`).
    pub fn region(&self) -> &str {
        self.0.split_once('_').map_or("", |(region, _)| region)
    }
}

/// `us-east-1`, `ap-southeast-2`, `us-gov-west-1`: lowercase words joined by `-`,
/// ending with a number.
fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

impl TryFrom<String> for UserPoolId {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<UserPoolId> for String {
    fn from(id: UserPoolId) -> Self {
        id.0
    }
}

impl AsRef<str> for UserPoolId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for UserPoolId {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserPoolId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_and_moto_ids_parse() {
        for id in [
            "us-east-1_AbCdEf123",
            "eu-west-3_x",
            "ap-southeast-2_Q1w2E3r4t",
            "us-gov-west-1_AbC",
            "us-east-1_0123456789abcdef0123456789abcdef",
        ] {
            let parsed = UserPoolId::parse(id).expect(id);
            assert_eq!(parsed.as_str(), id);
        }
        assert_eq!(
            UserPoolId::parse("eu-west-3_abc").unwrap().region(),
            "eu-west-3"
        );
    }

    #[test]
    fn anything_else_is_refused() {
        for id in [
            "",
            "nope",
            "not-a-pool-id",
            "us-east-1_",
            "_AbC",
            "us-east-1_Ab-C",
            "us-east-1_Ab_C",
            "US-EAST-1_AbC",
            "useast1_AbC",
            "us-east-x_AbC",
            "us-east-1_AbC/../x",
            "us-east-1_AbC%2F",
            "us-east-1_Äbc",
            &format!("us-east-1_{}", "a".repeat(50)),
        ] {
            assert!(UserPoolId::parse(id).is_err(), "{id:?}");
        }
    }

    #[test]
    fn it_deserializes_only_when_valid() {
        let ok: UserPoolId = serde_json::from_str("\"us-east-1_AbC\"").unwrap();
        assert_eq!(ok.as_str(), "us-east-1_AbC");
        assert!(serde_json::from_str::<UserPoolId>("\"nope\"").is_err());
        assert_eq!(serde_json::to_string(&ok).unwrap(), "\"us-east-1_AbC\"");
    }
}
