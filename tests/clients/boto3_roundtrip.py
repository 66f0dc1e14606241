"""An outside client against `certdeck sandbox`: boto3 creates a pool, imports two
certificates made with openssl, creates a custom domain, swaps its certificate, and
checks DescribeUserPoolDomain and DescribeCertificate field by field.

Usage: python3 boto3_roundtrip.py ENDPOINT_URL WORK_DIR
Exits non-zero, with the failed check, on any mismatch."""

import datetime
import os
import subprocess
import sys

import boto3
import botocore.exceptions

endpoint, work = sys.argv[1], sys.argv[2]
DOMAIN = "auth.boto.example.com"


def client(service):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="boto3-test",
        aws_secret_access_key="secret",
    )


def openssl_certificate(name):
    key = os.path.join(work, f"{name}.key")
    crt = os.path.join(work, f"{name}.crt")
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "90",
            "-subj", f"/CN={DOMAIN}", "-addext", f"subjectAltName=DNS:{DOMAIN}",
            "-keyout", key, "-out", crt,
        ],
        check=True,
        capture_output=True,
    )
    serial = subprocess.run(
        ["openssl", "x509", "-in", crt, "-noout", "-serial"],
        check=True, capture_output=True, text=True,
    ).stdout.strip().split("=", 1)[1]
    with open(crt, "rb") as c, open(key, "rb") as k:
        return c.read(), k.read(), serial


def serial_number(text):
    """A serial as a number: ACM's text form (colons, case, a leading 00 byte) varies."""
    return int(text.replace(":", ""), 16)


def check(what, actual, expected):
    if actual != expected:
        sys.exit(f"FAIL {what}: {actual!r} != {expected!r}")
    print(f"ok   {what}")


cognito = client("cognito-idp")
acm = client("acm")

pool = cognito.create_user_pool(PoolName="boto3 pool", UserPoolTags={"team": "payments"})["UserPool"]
pool_id = pool["Id"]
check("pool id region", pool_id.split("_")[0], "us-east-1")

arns, serials = [], []
for name in ("first", "second"):
    certificate, key, serial = openssl_certificate(name)
    arn = acm.import_certificate(Certificate=certificate, PrivateKey=key)["CertificateArn"]
    arns.append(arn)
    serials.append(serial)

detail = acm.describe_certificate(CertificateArn=arns[1])["Certificate"]
check("certificate arn", detail["CertificateArn"], arns[1])
check("certificate domain", detail["DomainName"], DOMAIN)
check("certificate names", detail["SubjectAlternativeNames"], [DOMAIN])
check("certificate serial", serial_number(detail["Serial"]), serial_number(serials[1]))
check("certificate status", detail["Status"], "ISSUED")
check("certificate type", detail["Type"], "IMPORTED")
check("certificate key", detail["KeyAlgorithm"], "RSA-2048")
check("certificate subject", detail["Subject"], f"CN={DOMAIN}")
check("certificate issuer", detail["Issuer"], f"CN={DOMAIN}")
check("certificate not in use", detail["InUseBy"], [])
not_after = detail["NotAfter"]
days = (not_after - datetime.datetime.now(datetime.timezone.utc)).days
check("certificate validity about 90 days", days in (88, 89, 90), True)

created = cognito.create_user_pool_domain(
    Domain=DOMAIN,
    UserPoolId=pool_id,
    CustomDomainConfig={"CertificateArn": arns[0], "SecurityPolicy": "TLS_V1_2_2021"},
    ManagedLoginVersion=2,
)
cloudfront = created["CloudFrontDomain"]
check("cloudfront domain shape", cloudfront.endswith(".cloudfront.net") and cloudfront.startswith("d"), True)

updated = cognito.update_user_pool_domain(
    Domain=DOMAIN,
    UserPoolId=pool_id,
    CustomDomainConfig={"CertificateArn": arns[1], "SecurityPolicy": "TLS_V1_2_2021"},
    ManagedLoginVersion=2,
)
check("update keeps the distribution", updated["CloudFrontDomain"], cloudfront)

description = cognito.describe_user_pool_domain(Domain=DOMAIN)["DomainDescription"]
check("domain pool", description["UserPoolId"], pool_id)
check("domain account", description["AWSAccountId"], "123456789012")
check("domain name", description["Domain"], DOMAIN)
check("domain distribution", description["CloudFrontDistribution"], cloudfront)
check("domain status", description["Status"] in ("CREATING", "UPDATING", "ACTIVE"), True)
check("domain certificate", description["CustomDomainConfig"]["CertificateArn"], arns[1])
check("domain security policy", description["CustomDomainConfig"]["SecurityPolicy"], "TLS_V1_2_2021")
check("domain managed login", description["ManagedLoginVersion"], 2)
check("domain version", len(description["Version"]), 14)
check("domain bucket", bool(description["S3Bucket"]), True)

in_use = acm.describe_certificate(CertificateArn=arns[1])["Certificate"]["InUseBy"]
check("new certificate in use by the distribution", len(in_use), 1)
check("in use by a CloudFront distribution", in_use[0].startswith("arn:aws:cloudfront::123456789012:distribution/"), True)

described_pool = cognito.describe_user_pool(UserPoolId=pool_id)["UserPool"]
check("pool custom domain", described_pool["CustomDomain"], DOMAIN)

try:
    cognito.update_user_pool_domain(Domain=DOMAIN, UserPoolId=pool_id)
    sys.exit("FAIL update without CustomDomainConfig was accepted")
except botocore.exceptions.ClientError as error:
    check("update without config refused", error.response["Error"]["Code"], "InvalidParameterException")
    check("refusal message", error.response["Error"]["Message"], "Cannot convert custom domain to prefix domain")

print("boto3 round trip passed")
