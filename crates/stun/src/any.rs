//! [`AnyAttribute`]: every known attribute as one enum, for code that walks whole messages
//! (fuzzing, logging, property tests).

use crate::attribute::{Attribute, RawAttribute};
use crate::attributes::*;
use crate::error::{AttributeError, EncodeError};
use crate::header::TransactionId;
use crate::writer::MessageWriter;

macro_rules! any_attribute {
    ($($variant:ident($ty:ty)),* $(,)?) => {
        /// Any attribute this crate knows, or an unknown one kept raw.
        #[derive(Clone, Copy, PartialEq, Eq, Debug)]
        pub enum AnyAttribute<'a> {
            $(
                #[doc = concat!("[`", stringify!($variant), "`].")]
                $variant($ty),
            )*
            /// An attribute type this crate does not know, kept as raw type and value.
            Unknown(RawAttribute<'a>),
        }

        impl<'a> AnyAttribute<'a> {
            /// Reads a raw attribute into its typed form; unknown types become
            /// [`AnyAttribute::Unknown`].
            pub fn decode(
                raw: RawAttribute<'a>,
                transaction_id: &TransactionId,
            ) -> Result<Self, AttributeError> {
                Ok(match raw.attr_type {
                    $(<$ty as Attribute<'a>>::TYPE => AnyAttribute::$variant(
                        <$ty as Attribute<'a>>::decode(raw.value, transaction_id)?,
                    ),)*
                    _ => AnyAttribute::Unknown(raw),
                })
            }

            /// The attribute type code.
            pub fn attr_type(&self) -> u16 {
                match self {
                    $(AnyAttribute::$variant(_) => <$ty as Attribute<'a>>::TYPE,)*
                    AnyAttribute::Unknown(raw) => raw.attr_type,
                }
            }

            /// Appends this attribute to a message being written.
            pub fn write_to(&self, writer: &mut MessageWriter<'_>) -> Result<(), EncodeError> {
                match self {
                    $(AnyAttribute::$variant(a) => writer.add(a),)*
                    AnyAttribute::Unknown(raw) => writer.add_raw(raw.attr_type, raw.value),
                }
            }
        }
    };
}

any_attribute! {
    MappedAddress(MappedAddress),
    XorMappedAddress(XorMappedAddress),
    Username(Username<'a>),
    Userhash(Userhash<'a>),
    MessageIntegrity(MessageIntegrity<'a>),
    MessageIntegritySha256(MessageIntegritySha256<'a>),
    Fingerprint(Fingerprint),
    ErrorCode(ErrorCode<'a>),
    Realm(Realm<'a>),
    Nonce(Nonce<'a>),
    PasswordAlgorithms(PasswordAlgorithms<'a>),
    PasswordAlgorithm(PasswordAlgorithm<'a>),
    UnknownAttributes(UnknownAttributes<'a>),
    Software(Software<'a>),
    AlternateServer(AlternateServer),
    AlternateDomain(AlternateDomain<'a>),
    Priority(Priority),
    UseCandidate(UseCandidate),
    IceControlled(IceControlled),
    IceControlling(IceControlling),
    ChannelNumber(ChannelNumber),
    Lifetime(Lifetime),
    XorPeerAddress(XorPeerAddress),
    Data(Data<'a>),
    XorRelayedAddress(XorRelayedAddress),
    RequestedAddressFamily(RequestedAddressFamily),
    EvenPort(EvenPort),
    RequestedTransport(RequestedTransport),
    DontFragment(DontFragment),
    ReservationToken(ReservationToken),
    AdditionalAddressFamily(AdditionalAddressFamily),
    AddressErrorCode(AddressErrorCode<'a>),
    Icmp(Icmp),
    ChangeRequest(ChangeRequest),
    ResponsePort(ResponsePort),
    Padding(Padding<'a>),
    ResponseOrigin(ResponseOrigin),
    OtherAddress(OtherAddress),
    ConnectionId(ConnectionId),
}
