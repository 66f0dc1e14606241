//! Every AWS call counted and timed in one place: an SDK interceptor on every client
//! (Cognito, ACM, STS), so each HTTP attempt (the SDK's retries included) is seen once,
//! whichever call site made it.

use std::time::Instant;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};

use crate::metrics::{AWS_CALLS, AWS_DURATION, AWS_ERRORS, AWS_THROTTLES};

/// The interceptor; add it to every client's configuration.
#[derive(Debug, Clone, Copy, Default)]
pub struct Metered;

/// When the attempt under way started.
#[derive(Debug, Clone)]
struct AttemptStarted(Instant);

impl Storable for AttemptStarted {
    type Storer = StoreReplace<Self>;
}

/// The error codes AWS uses for throttling (the SDK's own throttling classifier's list).
const THROTTLING_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "EC2ThrottledException",
];

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ok,
    Throttled,
    Client,
    Server,
    Transport,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Throttled => "throttled",
            Outcome::Client => "client",
            Outcome::Server => "server",
            Outcome::Transport => "transport",
        }
    }
}

impl Intercept for Metered {
    fn name(&self) -> &'static str {
        "certdeck metrics"
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state()
            .store_put(AttemptStarted(Instant::now()));
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, operation) = match cfg.load::<Metadata>() {
            Some(metadata) => (metadata.service().to_owned(), metadata.name().to_owned()),
            None => ("unknown".to_owned(), "unknown".to_owned()),
        };
        let outcome = match context.response() {
            None => Outcome::Transport,
            Some(response) => {
                let status = response.status().as_u16();
                if status < 300 {
                    Outcome::Ok
                } else {
                    let code = error_code(
                        response.headers().get("x-amzn-errortype"),
                        response.body().bytes(),
                    );
                    classify(status, code.as_deref())
                }
            }
        };
        let labels = [("service", service), ("operation", operation)];
        metrics::counter!(AWS_CALLS, &labels).increment(1);
        if let Some(started) = cfg.load::<AttemptStarted>() {
            metrics::histogram!(AWS_DURATION, &labels).record(started.0.elapsed().as_secs_f64());
        }
        if outcome == Outcome::Throttled {
            metrics::counter!(AWS_THROTTLES, &labels).increment(1);
        }
        if outcome != Outcome::Ok {
            let [service, operation] = labels;
            metrics::counter!(
                AWS_ERRORS,
                &[service, operation, ("kind", outcome.as_str().to_owned())]
            )
            .increment(1);
        }
        Ok(())
    }
}

fn classify(status: u16, code: Option<&str>) -> Outcome {
    if status == 429 || code.is_some_and(|c| THROTTLING_CODES.contains(&c)) {
        Outcome::Throttled
    } else if status >= 500 {
        Outcome::Server
    } else {
        Outcome::Client
    }
}

/// AWS's error code: the `x-amzn-ErrorType` header (JSON protocols), else the body's
/// `__type` (JSON) or `<Code>` (Query/XML, STS). Namespaces and suffixes are dropped.
fn error_code(header: Option<&str>, body: Option<&[u8]>) -> Option<String> {
    let raw = header.map(str::to_owned).or_else(|| {
        let body = std::str::from_utf8(body?).ok()?;
        if let Ok(json) = serde_json::from_str::<serde_json::Value>(body) {
            return json
                .get("__type")
                .or_else(|| json.get("code"))
                .and_then(|v| v.as_str())
                .map(str::to_owned);
        }
        let start = body.find("<Code>")? + "<Code>".len();
        let end = body[start..].find("</Code>")? + start;
        Some(body[start..end].to_owned())
    })?;
    // `aws.protocoltests#FooError:http://…` → `FooError`.
    let code = raw.split(':').next().unwrap_or_default();
    let code = code.rsplit('#').next().unwrap_or_default().trim();
    (!code.is_empty()).then(|| code.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_from_every_protocol() {
        assert_eq!(
            error_code(Some("TooManyRequestsException:http://internal"), None).as_deref(),
            Some("TooManyRequestsException")
        );
        assert_eq!(
            error_code(
                None,
                Some(br#"{"__type":"com.amazon#ThrottlingException","message":"slow"}"#)
            )
            .as_deref(),
            Some("ThrottlingException")
        );
        assert_eq!(
            error_code(
                None,
                Some(b"<ErrorResponse><Error><Code>Throttling</Code></Error></ErrorResponse>")
            )
            .as_deref(),
            Some("Throttling")
        );
        assert_eq!(error_code(None, Some(b"garbage")), None);
    }

    #[test]
    fn throttling_is_told_from_other_errors() {
        assert_eq!(
            classify(400, Some("ThrottlingException")),
            Outcome::Throttled
        );
        assert_eq!(classify(429, None), Outcome::Throttled);
        assert_eq!(
            classify(400, Some("InvalidParameterException")),
            Outcome::Client
        );
        assert_eq!(
            classify(500, Some("InternalErrorException")),
            Outcome::Server
        );
    }
}
