//! Pure rules of the product: no I/O. Values here are parsed once at the edge and
//! are valid by construction inside.

pub mod audit;
mod certificate;
mod domain_name;
pub mod notification;
mod pool_id;
pub mod propagation;
mod role;
pub mod text;

pub use certificate::{
    CLOUDFRONT_CERTIFICATE_REGION, CertificateArn, CertificateFacts, CertificateStatus,
    CertificateType, Ineligibility, KeyAlgorithm, KeyPairOrigin, ManagedBy, RenewalEligibility,
    RenewalOutlook, RenewalStatus, SecurityPolicy, SerialNumber, certificate_region,
    check_eligibility, format_serial, same_serial,
};
pub use domain_name::{DomainName, DomainNameError, name_covers};
pub use pool_id::UserPoolId;
pub use propagation::DomainStatus;
pub use role::Role;
