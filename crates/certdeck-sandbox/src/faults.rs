//! Injected errors: `POST /_sandbox/faults` arms a rule for an operation; matching calls
//! fail with the chosen error a number of times, or at random with a probability.

use serde::{Deserialize, Serialize};

use super::error::AwsError;

/// One armed fault.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Fault {
    /// An operation name (`UpdateUserPoolDomain`), or `Edge.Distribute` to keep the edge
    /// on the old certificate after a propagation.
    pub operation: String,
    #[serde(default = "default_code")]
    pub error_code: String,
    #[serde(default)]
    pub message: Option<String>,
    /// HTTP status; 500 for internal errors, else 400 when not given.
    #[serde(default)]
    pub status: Option<u16>,
    /// Fail this many matching calls, then stop.
    #[serde(default)]
    pub count: Option<u32>,
    /// Fail each matching call with this probability (0..=1), until removed.
    #[serde(default)]
    pub probability: Option<f64>,
}

fn default_code() -> String {
    "InternalErrorException".to_owned()
}

#[derive(Debug, Default)]
pub struct Faults {
    armed: Vec<Fault>,
}

impl Faults {
    pub fn arm(&mut self, fault: Fault) -> Result<(), String> {
        if fault.operation.is_empty() {
            return Err("operation is required".into());
        }
        match (fault.count, fault.probability) {
            (Some(0), _) => return Err("count must be at least 1".into()),
            (_, Some(p)) if !(0.0..=1.0).contains(&p) => {
                return Err("probability must be between 0 and 1".into());
            }
            (None, None) => return Err("give count or probability".into()),
            _ => {}
        }
        self.armed.push(fault);
        Ok(())
    }

    pub fn clear(&mut self) {
        self.armed.clear();
    }

    pub fn armed(&self) -> &[Fault] {
        &self.armed
    }

    /// The fault that fires for this call of `operation`, if any; counted faults are
    /// consumed.
    pub fn take(&mut self, operation: &str) -> Option<Fault> {
        let index = self.armed.iter().position(|f| {
            f.operation == operation
                && match (f.count, f.probability) {
                    (Some(n), _) => n > 0,
                    (None, Some(p)) => random_unit() < p,
                    (None, None) => false,
                }
        })?;
        let fault = self.armed[index].clone();
        if let Some(n) = self.armed[index].count.as_mut() {
            *n -= 1;
            if *n == 0 {
                self.armed.remove(index);
            }
        }
        Some(fault)
    }
}

impl Fault {
    pub fn to_error(&self) -> AwsError {
        let internal = matches!(
            self.error_code.as_str(),
            "InternalErrorException" | "InternalFailure" | "ServiceUnavailable"
        );
        let status = self
            .status
            .and_then(|s| actix_web::http::StatusCode::from_u16(s).ok())
            .unwrap_or(if internal {
                actix_web::http::StatusCode::INTERNAL_SERVER_ERROR
            } else {
                actix_web::http::StatusCode::BAD_REQUEST
            });
        let message = self
            .message
            .clone()
            .unwrap_or_else(|| format!("injected fault for {}", self.operation));
        AwsError::new(status, &self.error_code, message)
    }
}

fn random_unit() -> f64 {
    let mut bytes = [0u8; 8];
    // openssl's CSPRNG; a failure only makes the fault not fire.
    if openssl::rand::rand_bytes(&mut bytes).is_err() {
        return 1.0;
    }
    (u64::from_le_bytes(bytes) >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fault(count: Option<u32>, probability: Option<f64>) -> Fault {
        Fault {
            operation: "DescribeUserPool".into(),
            error_code: "InternalErrorException".into(),
            message: None,
            status: None,
            count,
            probability,
        }
    }

    #[test]
    fn counted_faults_fire_that_many_times() {
        let mut faults = Faults::default();
        faults.arm(fault(Some(2), None)).unwrap();
        assert!(faults.take("ListUserPools").is_none());
        assert!(faults.take("DescribeUserPool").is_some());
        assert!(faults.take("DescribeUserPool").is_some());
        assert!(faults.take("DescribeUserPool").is_none());
    }

    #[test]
    fn probabilities_are_bounded() {
        let mut faults = Faults::default();
        assert!(faults.arm(fault(None, Some(1.5))).is_err());
        assert!(faults.arm(fault(None, None)).is_err());
        faults.arm(fault(None, Some(1.0))).unwrap();
        assert!((0..10).all(|_| faults.take("DescribeUserPool").is_some()));
        faults.clear();
        faults.arm(fault(None, Some(0.0))).unwrap();
        assert!((0..10).all(|_| faults.take("DescribeUserPool").is_none()));
    }
}
