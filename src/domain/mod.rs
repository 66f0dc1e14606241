//! Pure rules of the product: no I/O. Values here are parsed once at the edge and
//! are valid by construction inside.

mod certificate;
mod domain_name;

pub use certificate::{
    CLOUDFRONT_CERTIFICATE_REGION, CertificateFacts, CertificateStatus, CertificateType,
    Ineligibility, KeyAlgorithm, certificate_region, check_eligibility,
};
pub use domain_name::{DomainName, DomainNameError, name_covers};
