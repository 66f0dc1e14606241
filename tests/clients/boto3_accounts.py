"""An outside client against the sandbox's demo accounts: boto3 calls STS AssumeRole on
the AWS Query protocol, then Cognito with the temporary credentials, and sees only that
account's pools; wrong roles and external ids are refused.

Usage: python3 boto3_accounts.py ENDPOINT_URL STAGING_ROLE_ARN EXTERNAL_ID
Exits non-zero, with the failed check, on any mismatch. Prints the assumed session's
access key id as `assumed: AKID` for the caller to follow in /_sandbox/state."""

import datetime
import sys

import boto3
import botocore.config
import botocore.exceptions

endpoint, staging_role, external_id = sys.argv[1], sys.argv[2], sys.argv[3]
BASE_ACCOUNT = "123456789012"
STAGING_ACCOUNT = staging_role.split(":")[4]


def client(service, region="us-east-1", credentials=None, validate=True):
    credentials = credentials or {
        "aws_access_key_id": "boto3-accounts",
        "aws_secret_access_key": "secret",
    }
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=region,
        # Server-side validation is what is checked: boto3 would refuse some bad input
        # itself.
        config=botocore.config.Config(parameter_validation=validate, retries={"max_attempts": 1}),
        **credentials,
    )


def check(what, actual, expected):
    if actual != expected:
        sys.exit(f"FAIL {what}: {actual!r} != {expected!r}")
    print(f"ok   {what}")


def refused(what, call, code, status):
    try:
        call()
    except botocore.exceptions.ClientError as error:
        check(f"{what}: code", error.response["Error"]["Code"], code)
        check(f"{what}: status", error.response["ResponseMetadata"]["HTTPStatusCode"], status)
        check(f"{what}: request id", bool(error.response["ResponseMetadata"].get("RequestId")), True)
        return error
    sys.exit(f"FAIL {what}: accepted")


sts = client("sts")
me = sts.get_caller_identity()
check("base caller account", me["Account"], BASE_ACCOUNT)

refused("unknown role", lambda: sts.assume_role(
    RoleArn=f"arn:aws:iam::{STAGING_ACCOUNT}:role/nobody", RoleSessionName="boto3"),
    "AccessDenied", 403)
refused("missing external id", lambda: sts.assume_role(
    RoleArn=staging_role, RoleSessionName="boto3"), "AccessDenied", 403)
refused("wrong external id", lambda: sts.assume_role(
    RoleArn=staging_role, RoleSessionName="boto3", ExternalId="not-it"), "AccessDenied", 403)
loose = client("sts", validate=False)
refused("short session name", lambda: loose.assume_role(
    RoleArn=staging_role, RoleSessionName="x", ExternalId=external_id), "ValidationError", 400)
refused("bad source identity", lambda: loose.assume_role(
    RoleArn=staging_role, RoleSessionName="boto3", ExternalId=external_id,
    SourceIdentity="has space"), "ValidationError", 400)
refused("short duration", lambda: loose.assume_role(
    RoleArn=staging_role, RoleSessionName="boto3", ExternalId=external_id,
    DurationSeconds=60), "ValidationError", 400)

assumed = sts.assume_role(
    RoleArn=staging_role,
    RoleSessionName="boto3-session",
    ExternalId=external_id,
    SourceIdentity="alice",
    DurationSeconds=900,
)
credentials = assumed["Credentials"]
check("access key is temporary", credentials["AccessKeyId"].startswith("ASIA"), True)
check("session token", len(credentials["SessionToken"]) > 100, True)
check("source identity", assumed["SourceIdentity"], "alice")
check("assumed role arn", assumed["AssumedRoleUser"]["Arn"],
      f"arn:aws:sts::{STAGING_ACCOUNT}:assumed-role/{staging_role.split('/')[-1]}/boto3-session")
check("assumed role id", assumed["AssumedRoleUser"]["AssumedRoleId"].endswith(":boto3-session"), True)
lifetime = (credentials["Expiration"] - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
check("lasts the 900 s asked for", 880 < lifetime <= 900, True)
session = {
    "aws_access_key_id": credentials["AccessKeyId"],
    "aws_secret_access_key": credentials["SecretAccessKey"],
    "aws_session_token": credentials["SessionToken"],
}
print(f"assumed: {credentials['AccessKeyId']}")

who = client("sts", credentials=session).get_caller_identity()
check("assumed caller account", who["Account"], STAGING_ACCOUNT)
check("assumed caller arn", who["Arn"], assumed["AssumedRoleUser"]["Arn"])

staging_pools = {}
for region in ("us-east-1", "eu-west-1"):
    cognito = client("cognito-idp", region, session)
    pools = cognito.list_user_pools(MaxResults=60)["UserPools"]
    for pool in pools:
        staging_pools[pool["Name"]] = (region, pool["Id"])
check("staging sees only its pools", sorted(staging_pools),
      ["Staging customer portal", "Staging internal tools", "Staging login"])

base_cognito = client("cognito-idp")
prod_pools = base_cognito.list_user_pools(MaxResults=60)["UserPools"]
check("the base account sees its own", any(p["Name"] == "Customer portal" for p in prod_pools), True)
check("and none of staging's", any(p["Name"].startswith("Staging") for p in prod_pools), False)

staging_cognito = client("cognito-idp", "us-east-1", session)
prod_pool = next(p["Id"] for p in prod_pools if p["Name"] == "Customer portal")
refused("another account's pool", lambda: staging_cognito.describe_user_pool(UserPoolId=prod_pool),
        "ResourceNotFoundException", 400)
check("another account's domain reads as absent",
      staging_cognito.describe_user_pool_domain(Domain="auth.example.com")["DomainDescription"], {})
own = staging_cognito.describe_user_pool_domain(Domain="auth.staging.example.com")["DomainDescription"]
check("own domain's account", own["AWSAccountId"], STAGING_ACCOUNT)
check("own domain's pool", own["UserPoolId"], staging_pools["Staging customer portal"][1])

portal = staging_cognito.describe_user_pool(UserPoolId=own["UserPoolId"])["UserPool"]
check("pool arn carries the account", portal["Arn"].split(":")[4], STAGING_ACCOUNT)
check("team tag", staging_cognito.list_tags_for_resource(ResourceArn=portal["Arn"])["Tags"],
      {"team": "payments"})
login_region, login_pool = staging_pools["Staging login"]
login = client("cognito-idp", login_region, session).describe_user_pool(UserPoolId=login_pool)["UserPool"]
check("no tags on the other", client("cognito-idp", login_region, session).list_tags_for_resource(
    ResourceArn=login["Arn"])["Tags"], {})

acm = client("acm", "us-east-1", session)
certificates = acm.list_certificates(
    Includes={"keyTypes": ["RSA_1024", "RSA_2048", "RSA_3072", "RSA_4096", "EC_prime256v1",
                           "EC_secp384r1", "EC_secp521r1"]},
    CertificateKeyPairOrigins=["AWS_MANAGED", "CUSTOMER_PROVIDED", "ACME"],
)["CertificateSummaryList"]
check("staging certificates", len(certificates), 3)
check("certificate arns carry the account",
      {c["CertificateArn"].split(":")[4] for c in certificates}, {STAGING_ACCOUNT})

# The change certdeck makes, as the person who asked: recorded with SourceIdentity.
staging_cognito.update_user_pool_domain(
    Domain="auth.staging.example.com",
    UserPoolId=own["UserPoolId"],
    CustomDomainConfig=own["CustomDomainConfig"],
    ManagedLoginVersion=own["ManagedLoginVersion"],
)
print("boto3 accounts passed")
