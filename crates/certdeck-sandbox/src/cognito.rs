//! Cognito user pools and domains, as `AWSCognitoIdentityProviderService.*`.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use crate::model::{certificate_region, check_domain_name};
use crate::rules::{CLOUDFRONT_CERTIFICATE_REGION, cloudfront_refusal};

use super::error::{AwsError, AwsResult};
use super::input::{Input, epoch, random_chars};
use super::sts::Caller;
use super::world::{CustomDomain, PoolDomain, Timings, UserPool, World};

const ALPHANUMERIC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const SECURITY_POLICIES: [&str; 3] = ["TLS_V1", "TLS_V1_2_2021", "TLS_V1_3_2025"];

/// What every Cognito call knows besides its input.
pub struct Call<'a> {
    /// Who calls; its account holds the resources the call sees.
    pub caller: &'a Caller,
    pub account: &'a str,
    pub region: &'a str,
    pub now: OffsetDateTime,
    pub timings: Timings,
}

pub fn handle(
    world: &mut World,
    call: &Call<'_>,
    operation: &str,
    input: &Input<'_>,
) -> Option<AwsResult> {
    Some(match operation {
        "ListUserPools" => list_user_pools(world, call, input),
        "DescribeUserPool" => describe_user_pool(world, call, input),
        "CreateUserPool" => create_user_pool(world, call, input),
        "DeleteUserPool" => delete_user_pool(world, call, input),
        "CreateUserPoolDomain" => create_user_pool_domain(world, call, input),
        "DescribeUserPoolDomain" => describe_user_pool_domain(world, call, input),
        "UpdateUserPoolDomain" => update_user_pool_domain(world, call, input),
        "DeleteUserPoolDomain" => delete_user_pool_domain(world, call, input),
        "TagResource" => tag_resource(world, call, input),
        "UntagResource" => untag_resource(world, call, input),
        "ListTagsForResource" => list_tags_for_resource(world, call, input),
        _ => return None,
    })
}

/// The operations `handle` knows.
pub const OPERATIONS: [&str; 11] = [
    "ListUserPools",
    "DescribeUserPool",
    "CreateUserPool",
    "DeleteUserPool",
    "CreateUserPoolDomain",
    "DescribeUserPoolDomain",
    "UpdateUserPoolDomain",
    "DeleteUserPoolDomain",
    "TagResource",
    "UntagResource",
    "ListTagsForResource",
];

fn list_user_pools(world: &mut World, call: &Call<'_>, input: &Input<'_>) -> AwsResult {
    let max = match input.optional_i64("MaxResults")? {
        Some(n) if (1..=60).contains(&n) => n as usize,
        Some(n) => {
            return Err(AwsError::invalid_parameter(format!(
                "1 validation error detected: Value '{n}' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 60"
            )));
        }
        None => {
            return Err(AwsError::invalid_parameter(
                "1 validation error detected: Value null at 'maxResults' failed to satisfy constraint: Member must not be null",
            ));
        }
    };
    let after = input
        .optional_str("NextToken")?
        .map(|token| {
            decode_token(token)
                .ok_or_else(|| AwsError::invalid_parameter("Invalid pagination token"))
        })
        .transpose()?;
    let region = world.region_ref(call.account, call.region);
    let mut pools = region
        .pools
        .range::<String, _>((
            after.map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded),
            std::ops::Bound::Unbounded,
        ))
        .map(|(_, p)| p);
    let page: Vec<&UserPool> = pools.by_ref().take(max).collect();
    let mut out = json!({
        "UserPools": page.iter().map(|p| json!({
            "Id": p.id,
            "Name": p.name,
            "LambdaConfig": {},
            "CreationDate": epoch(p.created),
            "LastModifiedDate": epoch(p.modified),
        })).collect::<Vec<_>>()
    });
    if pools.next().is_some()
        && let Some(last) = page.last()
    {
        out["NextToken"] = json!(encode_token(&last.id));
    }
    Ok(out)
}

fn describe_user_pool(world: &mut World, call: &Call<'_>, input: &Input<'_>) -> AwsResult {
    let id = pool_id(input)?;
    let region = world.region_ref(call.account, call.region);
    let pool = region.pools.get(id).ok_or_else(|| pool_not_found(id))?;
    let mut description = pool_json(pool);
    for domain in region.domains.values().filter(|d| d.pool_id == pool.id) {
        let member = if domain.custom.is_some() {
            "CustomDomain"
        } else {
            "Domain"
        };
        description[member] = json!(domain.domain);
    }
    Ok(json!({ "UserPool": description }))
}

fn create_user_pool(world: &mut World, call: &Call<'_>, input: &Input<'_>) -> AwsResult {
    let name = input.required_str("PoolName")?;
    if name.chars().count() > 128 {
        return Err(AwsError::invalid_parameter(
            "1 validation error detected: Value at 'poolName' failed to satisfy constraint: Member must have length less than or equal to 128",
        ));
    }
    let tags = string_map(input.raw("UserPoolTags"), "UserPoolTags")?;
    let pool = new_pool(world, call.account, call.region, name, tags, call.now);
    let out = json!({ "UserPool": pool_json(&pool) });
    world
        .region(call.account, call.region)
        .pools
        .insert(pool.id.clone(), pool);
    Ok(out)
}

/// A new pool of `account` with a fresh id `<region>_<9 alphanumerics>`.
pub fn new_pool(
    world: &mut World,
    account: &str,
    region: &str,
    name: &str,
    tags: BTreeMap<String, String>,
    now: OffsetDateTime,
) -> UserPool {
    let id = loop {
        let candidate = format!("{region}_{}", random_chars(ALPHANUMERIC, 9));
        if !world.region(account, region).pools.contains_key(&candidate) {
            break candidate;
        }
    };
    UserPool {
        arn: format!("arn:aws:cognito-idp:{region}:{account}:userpool/{id}"),
        id,
        name: name.to_owned(),
        created: now,
        modified: now,
        tags,
    }
}

fn delete_user_pool(world: &mut World, call: &Call<'_>, input: &Input<'_>) -> AwsResult {
    let id = pool_id(input)?;
    let region = world.region(call.account, call.region);
    if !region.pools.contains_key(id) {
        return Err(pool_not_found(id));
    }
    if region.domains.values().any(|d| d.pool_id == id) {
        return Err(AwsError::invalid_parameter(
            "User pool cannot be deleted. It has a domain configured that should be deleted first.",
        ));
    }
    region.pools.remove(id);
    Ok(json!({}))
}

fn create_user_pool_domain(world: &mut World, call: &Call<'_>, input: &Input<'_>) -> AwsResult {
    let name = input.required_str("Domain")?;
    let id = pool_id(input)?;
    let custom_config = input.optional_object("CustomDomainConfig")?;
    let managed_login_version = managed_login_version(input)?.unwrap_or(1);
    let routing = routing(input, call.region)?;
    if routing.is_some() && custom_config.is_none() {
        return Err(routing_needs_custom_domain());
    }
    if !world
        .region(call.account, call.region)
        .pools
        .contains_key(id)
    {
        return Err(pool_not_found(id));
    }
    let custom = match custom_config {
        Some(config) => {
            check_domain_name(name).map_err(|e| {
                AwsError::invalid_parameter(format!("Invalid custom domain {name:?}: {e}"))
            })?;
            // Custom domain names are CloudFront aliases: unique across every account.
            if world.domain_taken(name, call.region) {
                return Err(AwsError::invalid_parameter("Domain already exists."));
            }
            let arn = config.required_str("CertificateArn")?;
            check_certificate(world, call.account, arn, name, call.now)?;
            Some(CustomDomain {
                certificate_arn: arn.to_owned(),
                security_policy: security_policy(&config)?.map(str::to_owned),
                served_arn: None,
                pending: Some((arn.to_owned(), call.now + call.timings.propagation)),
            })
        }
        None => {
            validate_prefix(name)?;
            if world.domain_taken(name, call.region) {
                return Err(AwsError::invalid_parameter("Domain already exists."));
            }
            None
        }
    };
    let is_custom = custom.is_some();
    if world
        .region(call.account, call.region)
        .domains
        .values()
        .any(|d| d.pool_id == id && d.custom.is_some() == is_custom)
    {
        let kind = if is_custom { "custom" } else { "prefix" };
        return Err(AwsError::invalid_parameter(format!(
            "User pool {id} already has a {kind} domain."
        )));
    }
    let mut domain = new_domain(name, id, custom, managed_login_version, call.now);
    domain.routing = routing;
    let out = json!({
        "CloudFrontDomain": domain.cloudfront_domain,
        "ManagedLoginVersion": managed_login_version,
    });
    world
        .region(call.account, call.region)
        .domains
        .insert(name.to_owned(), domain);
    Ok(out)
}

/// A domain record with a fresh CloudFront distribution name.
pub fn new_domain(
    name: &str,
    pool_id: &str,
    custom: Option<CustomDomain>,
    managed_login_version: i32,
    now: OffsetDateTime,
) -> PoolDomain {
    const LOWER: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    PoolDomain {
        domain: name.to_owned(),
        pool_id: pool_id.to_owned(),
        cloudfront_domain: format!("d{}.cloudfront.net", random_chars(LOWER, 13)),
        s3_bucket: "aws-cognito-prod-iad-assets".to_owned(),
        version: version_at(now),
        managed_login_version: Some(managed_login_version),
        routing: None,
        custom,
    }
}

fn describe_user_pool_domain(world: &mut World, call: &Call<'_>, input: &Input<'_>) -> AwsResult {
    let name = input.required_str("Domain")?;
    // Another account's domain is not the caller's to see: an empty description, as for
    // a domain that does not exist.
    let Some(domain) = world.find_domain(call.account, name) else {
        return Ok(json!({ "DomainDescription": {} }));
    };
    let mut description = json!({
        "UserPoolId": domain.pool_id,
        "AWSAccountId": call.account,
        "Domain": domain.domain,
        "S3Bucket": domain.s3_bucket,
        "CloudFrontDistribution": domain.cloudfront_domain,
        "Version": domain.version,
        "Status": domain.status(),
    });
    if let Some(custom) = &domain.custom {
        let mut config = json!({ "CertificateArn": custom.certificate_arn });
        if let Some(policy) = &custom.security_policy {
            config["SecurityPolicy"] = json!(policy);
        }
        description["CustomDomainConfig"] = config;
    }
    if let Some(version) = domain.managed_login_version {
        description["ManagedLoginVersion"] = json!(version);
    }
    if let Some(routing) = &domain.routing {
        description["Routing"] = routing.clone();
    }
    Ok(json!({ "DomainDescription": description }))
}

fn update_user_pool_domain(world: &mut World, call: &Call<'_>, input: &Input<'_>) -> AwsResult {
    let name = input.required_str("Domain")?;
    let id = pool_id(input)?;
    let custom_config = input.optional_object("CustomDomainConfig")?;
    let managed_login_version = managed_login_version(input)?;
    let routing = routing(input, call.region)?;
    if !world
        .region(call.account, call.region)
        .pools
        .contains_key(id)
    {
        return Err(pool_not_found(id));
    }
    let is_custom = match world.region(call.account, call.region).domains.get(name) {
        Some(d) if d.pool_id == id => d.custom.is_some(),
        _ => {
            return Err(AwsError::invalid_parameter(format!(
                "Domain {name} does not exist for user pool {id}."
            )));
        }
    };
    let new_certificate = match (is_custom, &custom_config) {
        (true, None) => {
            return Err(AwsError::invalid_parameter(
                "Cannot convert custom domain to prefix domain",
            ));
        }
        (false, Some(_)) => {
            return Err(AwsError::invalid_parameter(
                "Cannot convert prefix domain to custom domain",
            ));
        }
        (false, None) if routing.is_some() => return Err(routing_needs_custom_domain()),
        (true, Some(config)) => {
            let arn = config.required_str("CertificateArn")?;
            check_domain_name(name)
                .map_err(|e| AwsError::invalid_parameter(format!("Invalid custom domain: {e}")))?;
            check_certificate(world, call.account, arn, name, call.now)?;
            Some((arn.to_owned(), security_policy(config)?.map(str::to_owned)))
        }
        (false, None) => None,
    };
    let Some(domain) = world
        .region(call.account, call.region)
        .domains
        .get_mut(name)
    else {
        return Err(AwsError::internal("domain vanished"));
    };
    // As with ManagedLoginVersion, a setting left out of the update is kept: only the
    // members sent change (AWS documents no reset; PRODUCT.md §1 has certdeck send them
    // all anyway).
    if let (Some(custom), Some((arn, policy))) = (domain.custom.as_mut(), new_certificate) {
        custom.certificate_arn = arn.clone();
        if policy.is_some() {
            custom.security_policy = policy;
        }
        custom.pending = Some((arn, call.now + call.timings.propagation));
    }
    if managed_login_version.is_some() {
        domain.managed_login_version = managed_login_version;
    }
    if routing.is_some() {
        domain.routing = routing;
    }
    domain.version = version_at(call.now);
    let mut out = json!({ "CloudFrontDomain": domain.cloudfront_domain });
    if let Some(version) = domain.managed_login_version {
        out["ManagedLoginVersion"] = json!(version);
    }
    let custom = domain.custom.as_ref();
    let update = json!({
        "account_id": call.account,
        "region": call.region,
        "user_pool_id": id,
        "domain": name,
        "certificate_arn": custom.map(|c| c.certificate_arn.clone()),
        "security_policy": custom.and_then(|c| c.security_policy.clone()),
        "routing": domain.routing.clone(),
        "managed_login_version": domain.managed_login_version,
        "source_identity": call.caller.source_identity,
        "role_arn": call.caller.role_arn,
        "at": call
            .now
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
    });
    world.record_update(update);
    Ok(out)
}

fn delete_user_pool_domain(world: &mut World, call: &Call<'_>, input: &Input<'_>) -> AwsResult {
    let name = input.required_str("Domain")?;
    let id = pool_id(input)?;
    let region = world.region(call.account, call.region);
    match region.domains.get(name) {
        Some(d) if d.pool_id == id => {
            region.domains.remove(name);
            Ok(json!({}))
        }
        _ => Err(AwsError::invalid_parameter(format!(
            "Domain {name} does not exist for user pool {id}."
        ))),
    }
}

fn tag_resource(world: &mut World, call: &Call<'_>, input: &Input<'_>) -> AwsResult {
    let tags = string_map(input.raw("Tags"), "Tags")?;
    let pool = pool_by_arn(world, call, input)?;
    pool.tags.extend(tags);
    Ok(json!({}))
}

fn untag_resource(world: &mut World, call: &Call<'_>, input: &Input<'_>) -> AwsResult {
    let keys: Vec<String> = input
        .optional_str_list("TagKeys")?
        .unwrap_or_default()
        .into_iter()
        .map(str::to_owned)
        .collect();
    let pool = pool_by_arn(world, call, input)?;
    for key in keys {
        pool.tags.remove(&key);
    }
    Ok(json!({}))
}

fn list_tags_for_resource(world: &mut World, call: &Call<'_>, input: &Input<'_>) -> AwsResult {
    let pool = pool_by_arn(world, call, input)?;
    Ok(json!({ "Tags": pool.tags }))
}

fn pool_by_arn<'w>(
    world: &'w mut World,
    call: &Call<'_>,
    input: &Input<'_>,
) -> Result<&'w mut UserPool, AwsError> {
    let arn = input.required_str("ResourceArn")?;
    // Only the caller's account and region are searched: reading must not make regions.
    world
        .accounts
        .get_mut(call.account)
        .and_then(|a| a.regions.get_mut(call.region))
        .and_then(|r| r.pools.values_mut().find(|p| p.arn == arn))
        .ok_or_else(|| AwsError::not_found(format!("Resource {arn} does not exist.")))
}

/// Refuses a certificate that CloudFront cannot use for `domain`, naming the problem,
/// by the sandbox's own reading of AWS's rules (`rules`), not the console's.
fn check_certificate(
    world: &World,
    account: &str,
    arn: &str,
    domain: &str,
    now: OffsetDateTime,
) -> Result<(), AwsError> {
    let refuse = |why: String| {
        Err(AwsError::invalid_parameter(format!(
            "The certificate {arn} cannot be used for {domain}: {why}"
        )))
    };
    match certificate_region(arn) {
        None => return refuse("it is not an ACM certificate ARN".into()),
        Some(region) if region != CLOUDFRONT_CERTIFICATE_REGION => {
            return refuse(format!(
                "it is in {region}; CloudFront only uses certificates in {CLOUDFRONT_CERTIFICATE_REGION}"
            ));
        }
        Some(_) => {}
    }
    // A certificate of another account is one Cognito cannot find: a custom domain
    // takes a certificate of the account that owns the pool.
    let Some(certificate) = world
        .certificate(arn)
        .filter(|_| crate::model::certificate_scope(arn).is_some_and(|(_, a)| a == account))
    else {
        return Err(AwsError::invalid_parameter(
            "The specified SSL certificate doesn't exist, isn't in us-east-1 region, isn't valid, or doesn't include a valid certificate chain.",
        ));
    };
    match cloudfront_refusal(certificate, domain, now) {
        Some(reason) => refuse(reason),
        None => Ok(()),
    }
}

fn pool_id<'a>(input: &Input<'a>) -> Result<&'a str, AwsError> {
    let id = input.required_str("UserPoolId")?;
    let valid = id.split_once('_').is_some_and(|(region, suffix)| {
        !region.is_empty()
            && region
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !suffix.is_empty()
            && suffix.bytes().all(|b| b.is_ascii_alphanumeric())
            && id.len() <= 55
    });
    if valid {
        Ok(id)
    } else {
        Err(AwsError::invalid_parameter(format!(
            "1 validation error detected: Value '{id}' at 'userPoolId' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w-]+_[0-9a-zA-Z]+"
        )))
    }
}

fn pool_not_found(id: &str) -> AwsError {
    AwsError::not_found(format!("User pool {id} does not exist."))
}

fn pool_json(pool: &UserPool) -> Value {
    json!({
        "Id": pool.id,
        "Name": pool.name,
        "Arn": pool.arn,
        "UserPoolTags": pool.tags,
        "CreationDate": epoch(pool.created),
        "LastModifiedDate": epoch(pool.modified),
        "LambdaConfig": {},
        "MfaConfiguration": "OFF",
        "EstimatedNumberOfUsers": 0,
    })
}

fn managed_login_version(input: &Input<'_>) -> Result<Option<i32>, AwsError> {
    match input.optional_i64("ManagedLoginVersion")? {
        None => Ok(None),
        Some(v @ (1 | 2)) => Ok(Some(v as i32)),
        Some(v) => Err(AwsError::invalid_parameter(format!(
            "ManagedLoginVersion {v} is not valid; use 1 (hosted UI) or 2 (managed login)."
        ))),
    }
}

fn security_policy<'a>(config: &Input<'a>) -> Result<Option<&'a str>, AwsError> {
    match config.optional_str("SecurityPolicy")? {
        Some(p) if !SECURITY_POLICIES.contains(&p) => Err(AwsError::invalid_parameter(format!(
            "1 validation error detected: Value '{p}' at 'customDomainConfig.securityPolicy' failed to satisfy constraint: Member must satisfy enum value set: [{}]",
            SECURITY_POLICIES.join(", ")
        ))),
        other => Ok(other),
    }
}

/// The `Routing` member (2026-06-01): `{Failover: {SecondaryRegion,
/// PrimaryRoute53HealthCheckId}}`, both required in a Failover, with the model's lengths
/// (region 5–32, health check id at most 64); the secondary region must be another
/// region than the pool's. Returned in the shape DescribeUserPoolDomain gives back.
fn routing(input: &Input<'_>, pool_region: &str) -> Result<Option<Value>, AwsError> {
    let Some(routing) = input.optional_object("Routing")? else {
        return Ok(None);
    };
    if let Some(unknown) = routing.0.keys().find(|k| k.as_str() != "Failover") {
        return Err(AwsError::serialization(format!(
            "Routing: unknown member {unknown:?}"
        )));
    }
    let Some(failover) = routing.optional_object("Failover")? else {
        return Ok(Some(json!({})));
    };
    let required = |member: &str, path: &str| -> Result<String, AwsError> {
        match failover.optional_str(member)? {
            Some(value) => Ok(value.to_owned()),
            None => Err(AwsError::invalid_parameter(format!(
                "1 validation error detected: Value null at 'routing.failover.{path}' failed to satisfy constraint: Member must not be null"
            ))),
        }
    };
    let secondary = required("SecondaryRegion", "secondaryRegion")?;
    let health_check = required("PrimaryRoute53HealthCheckId", "primaryRoute53HealthCheckId")?;
    let region_like = (5..=32).contains(&secondary.len())
        && secondary.split('-').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
        && secondary.contains('-');
    if !region_like {
        return Err(AwsError::invalid_parameter(format!(
            "1 validation error detected: Value '{secondary}' at 'routing.failover.secondaryRegion' failed to satisfy constraint: Member must be a region name of length 5 to 32"
        )));
    }
    if secondary == pool_region {
        return Err(AwsError::invalid_parameter(format!(
            "The secondary region {secondary} must differ from the user pool's region."
        )));
    }
    if health_check.is_empty()
        || health_check.len() > 64
        || !health_check
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(AwsError::invalid_parameter(format!(
            "1 validation error detected: Value '{health_check}' at 'routing.failover.primaryRoute53HealthCheckId' failed to satisfy constraint: Member must be a Route 53 health check id of at most 64 characters"
        )));
    }
    Ok(Some(json!({
        "Failover": {
            "SecondaryRegion": secondary,
            "PrimaryRoute53HealthCheckId": health_check,
        }
    })))
}

fn routing_needs_custom_domain() -> AwsError {
    AwsError::invalid_parameter("Routing is supported for custom domains only.")
}

fn validate_prefix(name: &str) -> Result<(), AwsError> {
    let ok = (1..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
        && !name.ends_with('-');
    if !ok {
        return Err(AwsError::invalid_parameter(format!(
            "1 validation error detected: Value '{name}' at 'domain' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-z0-9](?:[a-z0-9\\-]{{0,61}}[a-z0-9])?$"
        )));
    }
    if ["aws", "amazon", "cognito"]
        .iter()
        .any(|w| name.contains(w))
    {
        return Err(AwsError::invalid_parameter(
            "Domain cannot contain reserved word: aws, amazon or cognito.",
        ));
    }
    Ok(())
}

fn string_map(value: Option<&Value>, member: &str) -> Result<BTreeMap<String, String>, AwsError> {
    let Some(value) = value else {
        return Ok(BTreeMap::new());
    };
    let object: &Map<String, Value> = value
        .as_object()
        .ok_or_else(|| AwsError::serialization(format!("{member}: expected a map")))?;
    object
        .iter()
        .map(|(k, v)| match v.as_str() {
            Some(s) => Ok((k.clone(), s.to_owned())),
            None => Err(AwsError::serialization(format!(
                "{member}: expected string values"
            ))),
        })
        .collect()
}

fn version_at(now: OffsetDateTime) -> String {
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    )
}

/// Paging tokens are opaque to clients: base64 of the last key returned.
pub fn encode_token(last: &str) -> String {
    URL_SAFE_NO_PAD.encode(last)
}

pub fn decode_token(token: &str) -> Option<String> {
    String::from_utf8(URL_SAFE_NO_PAD.decode(token).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routing_of(body: Value) -> Result<Option<Value>, AwsError> {
        let members = body.as_object().cloned().unwrap_or_default();
        routing(&Input(&members), "us-east-1")
    }

    #[test]
    fn routing_needs_both_failover_members_of_the_model_shape() {
        let ok = routing_of(json!({"Routing": {"Failover": {
            "SecondaryRegion": "eu-west-1",
            "PrimaryRoute53HealthCheckId": "3f2a8c1e-5b7d-4e9a-8c21-6d0f4b9e7a15",
        }}}))
        .expect("valid");
        assert_eq!(
            ok,
            Some(json!({"Failover": {
                "SecondaryRegion": "eu-west-1",
                "PrimaryRoute53HealthCheckId": "3f2a8c1e-5b7d-4e9a-8c21-6d0f4b9e7a15",
            }}))
        );
        assert_eq!(routing_of(json!({})).expect("absent"), None);
        assert_eq!(
            routing_of(json!({"Routing": {}})).expect("no failover"),
            Some(json!({}))
        );
        for (bad, code) in [
            (
                json!({"Routing": {"Failover": {"SecondaryRegion": "eu-west-1"}}}),
                "InvalidParameterException",
            ),
            (
                json!({"Routing": {"Failover": {"PrimaryRoute53HealthCheckId": "abc"}}}),
                "InvalidParameterException",
            ),
            (
                json!({"Routing": {"Failover": {
                    "SecondaryRegion": "eu-west-1-and-a-region-name-that-is-too-long",
                    "PrimaryRoute53HealthCheckId": "abc"}}}),
                "InvalidParameterException",
            ),
            (
                json!({"Routing": {"Failover": {
                    "SecondaryRegion": "us-east-1",
                    "PrimaryRoute53HealthCheckId": "abc"}}}),
                "InvalidParameterException",
            ),
            (
                json!({"Routing": {"Weighted": {}}}),
                "SerializationException",
            ),
            (json!({"Routing": "eu-west-1"}), "SerializationException"),
            (
                json!({"Routing": {"Failover": "eu-west-1"}}),
                "SerializationException",
            ),
        ] {
            let error = routing_of(bad.clone()).expect_err("refused");
            assert_eq!(error.code, code, "{bad}");
        }
    }

    #[test]
    fn security_policies_are_the_three_of_the_model() {
        for policy in SECURITY_POLICIES {
            let members = json!({"SecurityPolicy": policy});
            let members = members.as_object().cloned().unwrap_or_default();
            assert_eq!(security_policy(&Input(&members)), Ok(Some(policy)));
        }
        let members = json!({"SecurityPolicy": "TLS_V1_1_2016"});
        let members = members.as_object().cloned().unwrap_or_default();
        assert_eq!(
            security_policy(&Input(&members)).map_err(|e| e.code),
            Err("InvalidParameterException".to_owned())
        );
    }
}
