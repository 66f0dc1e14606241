use std::fmt;

/// A custom domain as Cognito accepts it (PRODUCT.md §1): lowercase letters, digits and
/// hyphens, no hyphen first or last in a label, at most 63 characters a label and 253 in
/// all, at least two labels.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DomainName(String);

/// Why a string is not a custom domain name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainNameError {
    #[error("the domain name is empty")]
    Empty,
    #[error("the domain name is longer than 253 characters")]
    TooLong,
    #[error("a custom domain needs at least two labels, like auth.example.com")]
    SingleLabel,
    #[error("label {0:?} is empty or longer than 63 characters")]
    LabelLength(String),
    #[error("label {0:?} may hold only lowercase letters, digits and hyphens")]
    LabelCharacters(String),
    #[error("label {0:?} starts or ends with a hyphen")]
    LabelHyphen(String),
}

impl DomainName {
    /// Parses a custom domain name; nothing is lowercased for the caller, as Cognito
    /// refuses uppercase too.
    pub fn parse(input: &str) -> Result<Self, DomainNameError> {
        if input.is_empty() {
            return Err(DomainNameError::Empty);
        }
        if input.len() > 253 {
            return Err(DomainNameError::TooLong);
        }
        let labels: Vec<&str> = input.split('.').collect();
        if labels.len() < 2 {
            return Err(DomainNameError::SingleLabel);
        }
        for label in labels {
            if label.is_empty() || label.len() > 63 {
                return Err(DomainNameError::LabelLength(label.to_owned()));
            }
            if !label
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            {
                return Err(DomainNameError::LabelCharacters(label.to_owned()));
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err(DomainNameError::LabelHyphen(label.to_owned()));
            }
        }
        Ok(Self(input.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for DomainName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Whether one certificate name (a SAN, possibly `*.`-wildcarded) covers `domain`.
/// A wildcard stands for exactly one whole leftmost label: `*.example.com` covers
/// `auth.example.com`, not `example.com` and not `a.b.example.com`. Names compare
/// case-insensitively, as DNS does.
pub fn name_covers(certificate_name: &str, domain: &DomainName) -> bool {
    let name = certificate_name.trim_end_matches('.').to_ascii_lowercase();
    let domain = domain.as_str();
    match name.strip_prefix("*.") {
        Some(parent) => match domain.split_once('.') {
            Some((first, rest)) => !first.is_empty() && rest == parent,
            None => false,
        },
        None => name == domain,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_custom_domains() {
        for ok in [
            "auth.example.com",
            "a.b",
            "x-1.example.co.uk",
            "1.example.com",
        ] {
            assert!(DomainName::parse(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_malformed_names() {
        let label64 = format!("{}.example.com", "a".repeat(64));
        let long = format!("{}.com", ["abcdefghij"; 25].join("."));
        let cases = [
            ("", DomainNameError::Empty),
            ("localhost", DomainNameError::SingleLabel),
            (
                "Auth.example.com",
                DomainNameError::LabelCharacters("Auth".into()),
            ),
            (
                "auth_1.example.com",
                DomainNameError::LabelCharacters("auth_1".into()),
            ),
            (
                "-auth.example.com",
                DomainNameError::LabelHyphen("-auth".into()),
            ),
            (
                "auth-.example.com",
                DomainNameError::LabelHyphen("auth-".into()),
            ),
            (
                "auth..example.com",
                DomainNameError::LabelLength(String::new()),
            ),
            (
                label64.as_str(),
                DomainNameError::LabelLength("a".repeat(64)),
            ),
            (long.as_str(), DomainNameError::TooLong),
        ];
        for (input, expected) in cases {
            assert_eq!(DomainName::parse(input), Err(expected), "{input:?}");
        }
    }

    #[test]
    fn wildcard_covers_exactly_one_label() {
        let d = |s| DomainName::parse(s).unwrap();
        assert!(name_covers("*.example.com", &d("auth.example.com")));
        assert!(name_covers("auth.example.com", &d("auth.example.com")));
        assert!(name_covers("AUTH.Example.com", &d("auth.example.com")));
        assert!(!name_covers("*.example.com", &d("example.com")));
        assert!(!name_covers("*.example.com", &d("a.b.example.com")));
        assert!(!name_covers("*.b.example.com", &d("b.example.com")));
        assert!(!name_covers("login.example.com", &d("auth.example.com")));
        assert!(!name_covers("*.example.com", &d("auth.example.org")));
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    fn label() -> impl Strategy<Value = String> {
        "[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?"
    }

    fn parent() -> impl Strategy<Value = String> {
        prop::collection::vec(label(), 1..4).prop_map(|labels| labels.join("."))
    }

    proptest! {
        #[test]
        fn a_wildcard_covers_exactly_one_more_label(first in label(), extra in label(), parent in parent()) {
            let wildcard = format!("*.{parent}");
            let one_below = DomainName::parse(&format!("{first}.{parent}")).unwrap();
            prop_assert!(name_covers(&wildcard, &one_below));
            prop_assert!(name_covers(&wildcard.to_uppercase(), &one_below));
            let two_below = DomainName::parse(&format!("{extra}.{first}.{parent}")).unwrap();
            prop_assert!(!name_covers(&wildcard, &two_below));
            if let Ok(apex) = DomainName::parse(&parent) {
                prop_assert!(!name_covers(&wildcard, &apex));
            }
        }

        #[test]
        fn an_exact_name_covers_itself_only(first in label(), other in label(), parent in parent()) {
            let name = DomainName::parse(&format!("{first}.{parent}")).unwrap();
            prop_assert!(name_covers(name.as_str(), &name));
            let sibling = DomainName::parse(&format!("{other}.{parent}")).unwrap();
            prop_assert_eq!(name_covers(name.as_str(), &sibling), first == other);
        }

        #[test]
        fn parsing_never_panics_and_accepts_what_it_returns(input in "\\PC{0,80}") {
            if let Ok(name) = DomainName::parse(&input) {
                prop_assert_eq!(DomainName::parse(name.as_str()), Ok(name.clone()));
                prop_assert!(name.as_str().len() <= 253);
            }
        }
    }
}
