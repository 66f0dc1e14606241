//! How the typed values rows carry are stored: as their text, in a `TEXT` column, on
//! both databases (through the `Any` driver). Reading a text that names no value is a
//! decode error, except for audit actions (kept as read, so the chain still verifies).

use sqlx::any::{AnyTypeInfo, AnyValueRef};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::{Any, Database, Decode, Encode, Type};

use crate::domain::Role;
use crate::domain::audit::AuditAction;
use crate::domain::propagation::Phase;

macro_rules! stored_as_text {
    ($ty:ty, |$text:ident| $parse:expr) => {
        impl Type<Any> for $ty {
            fn type_info() -> AnyTypeInfo {
                <String as Type<Any>>::type_info()
            }

            fn compatible(ty: &AnyTypeInfo) -> bool {
                <String as Type<Any>>::compatible(ty)
            }
        }

        impl Encode<'_, Any> for $ty {
            fn encode_by_ref(
                &self,
                buf: &mut <Any as Database>::ArgumentBuffer,
            ) -> Result<IsNull, BoxDynError> {
                <String as Encode<'_, Any>>::encode(self.as_str().to_owned(), buf)
            }
        }

        impl<'r> Decode<'r, Any> for $ty {
            fn decode(value: AnyValueRef<'r>) -> Result<Self, BoxDynError> {
                let $text = <String as Decode<'r, Any>>::decode(value)?;
                $parse
            }
        }
    };
}

stored_as_text!(Phase, |text| Ok(text.parse::<Phase>()?));
stored_as_text!(Role, |text| Ok(text.parse::<Role>()?));
stored_as_text!(AuditAction, |text| Ok(AuditAction::from(text)));
