//! proto3 JSON mapping helpers shared by every wire and config type.
//!
//! Backrest's API is protobuf messages sent as proto3 JSON (docs/COMPATIBILITY.md §1): int64 fields are JSON
//! strings, enums are names, default values are omitted. These helpers are used from serde
//! attributes so each message type is written once. Input is lenient as protojson is: int64
//! from a string or a number, enums from a name or a number.

use serde::de::{self, Deserializer, Visitor};
use serde::ser::Serializer;
use std::fmt;

/// `skip_serializing_if` helper: true for a type's default value.
pub fn is_default<T: Default + PartialEq>(v: &T) -> bool {
    *v == T::default()
}

/// int64 as a JSON string on output; a string or an integer on input.
pub mod i64s {
    use super::*;

    pub fn serialize<S: Serializer>(v: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        d.deserialize_any(I64Visitor)
    }
}

/// `Option<i64>` (proto `optional int64`) as a JSON string when set.
pub mod opt_i64s {
    use super::*;

    pub fn serialize<S: Serializer>(v: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.collect_str(v),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Option<i64>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an int64 as a string or a number")
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                d.deserialize_any(I64Visitor).map(Some)
            }
        }
        d.deserialize_option(V)
    }
}

/// `repeated int64` as a list of JSON strings.
pub mod vec_i64s {
    use super::*;
    use serde::ser::SerializeSeq;

    pub fn serialize<S: Serializer>(v: &[i64], s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(v.len()))?;
        for x in v {
            seq.serialize_element(&x.to_string())?;
        }
        seq.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<i64>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Vec<i64>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of int64")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Vec::new())
            }
            fn visit_seq<A: de::SeqAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(x) = a.next_element::<I64>()? {
                    out.push(x.0);
                }
                Ok(out)
            }
        }
        d.deserialize_any(V)
    }
}

/// An int64 read the protojson way; usable as an element type.
pub struct I64(pub i64);

impl<'de> serde::Deserialize<'de> for I64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(I64Visitor).map(I64)
    }
}

struct I64Visitor;

impl Visitor<'_> for I64Visitor {
    type Value = i64;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an int64 as a string or a number")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
        Ok(v)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
        i64::try_from(v).map_err(|_| E::custom(format!("{v} is out of range for int64")))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<i64, E> {
        if v.fract() == 0.0 && v.abs() < 9.007_199_254_740_992e15 {
            Ok(v as i64)
        } else {
            Err(E::custom(format!("{v} is not an integer")))
        }
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<i64, E> {
        v.trim()
            .parse()
            .map_err(|_| E::custom(format!("\"{v}\" is not an int64")))
    }
}

/// int32 fields: JSON numbers on output; numbers or numeric strings on input.
pub mod i32n {
    use super::*;

    pub fn serialize<S: Serializer>(v: &i32, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i32(*v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
        let v = d.deserialize_any(I64Visitor)?;
        i32::try_from(v).map_err(|_| de::Error::custom(format!("{v} is out of range for int32")))
    }
}

/// `optional int32` (oneof members): written whenever set.
pub mod opt_i32n {
    use super::*;

    pub fn serialize<S: Serializer>(v: &Option<i32>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_i32(*v),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i32>, D::Error> {
        super::opt_i64s::deserialize(d)?
            .map(|v| {
                i32::try_from(v)
                    .map_err(|_| de::Error::custom(format!("{v} is out of range for int32")))
            })
            .transpose()
    }
}

/// double fields: JSON numbers on output (whole values as integers, as proto3 JSON writers
/// print them); numbers or numeric strings on input.
pub mod f64n {
    use super::*;

    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.fract() == 0.0 && v.abs() < 9.0e15 {
            s.serialize_i64(*v as i64)
        } else {
            s.serialize_f64(*v)
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        d.deserialize_any(F64Visitor)
    }
}

/// `optional double`: written whenever set.
pub mod opt_f64n {
    use super::*;

    pub fn serialize<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => super::f64n::serialize(v, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        <Option<F64Value> as serde::Deserialize>::deserialize(d).map(|o| o.map(|v| v.0))
    }
}

struct F64Value(f64);

impl<'de> serde::Deserialize<'de> for F64Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(F64Visitor).map(F64Value)
    }
}

struct F64Visitor;

impl de::Visitor<'_> for F64Visitor {
    type Value = f64;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a number or a numeric string")
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
        Ok(v)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
        Ok(v as f64)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
        crate::util::parse_f64(v)
            .filter(|x| x.is_finite())
            .ok_or_else(|| E::custom(format!("\"{v}\" is not a number")))
    }
}

/// Declares a proto enum: serialized by name, deserialized from a name or a number.
/// The first variant is the proto default (number 0).
#[macro_export]
macro_rules! proto_enum {
    ($(#[$m:meta])* $name:ident { $($var:ident = $num:literal => $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
        pub enum $name {
            #[default]
            $($var),+
        }

        #[allow(dead_code)]
        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$var),+];

            pub fn name(self) -> &'static str {
                match self { $($name::$var => $s),+ }
            }

            pub fn number(self) -> i32 {
                match self { $($name::$var => $num),+ }
            }

            pub fn from_name(s: &str) -> Option<Self> {
                match s { $($s => Some($name::$var),)+ _ => None }
            }

            pub fn from_number(n: i64) -> Option<Self> {
                match n { $($num => Some($name::$var),)+ _ => None }
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct V;
                impl serde::de::Visitor<'_> for V {
                    type Value = $name;
                    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                        write!(f, "a {} name or number", stringify!($name))
                    }
                    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<$name, E> {
                        $name::from_name(v).ok_or_else(|| {
                            E::custom(format!("unknown {} value \"{}\"", stringify!($name), v))
                        })
                    }
                    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<$name, E> {
                        $name::from_number(v).ok_or_else(|| {
                            E::custom(format!("unknown {} value {}", stringify!($name), v))
                        })
                    }
                    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<$name, E> {
                        self.visit_i64(i64::try_from(v).unwrap_or(i64::MAX))
                    }
                    fn visit_unit<E: serde::de::Error>(self) -> Result<$name, E> {
                        Ok($name::default())
                    }
                }
                d.deserialize_any(V)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, Default, PartialEq, Debug)]
    #[serde(default, rename_all = "camelCase")]
    struct M {
        #[serde(with = "super::i64s", skip_serializing_if = "super::is_default")]
        big: i64,
        #[serde(with = "super::vec_i64s", skip_serializing_if = "Vec::is_empty")]
        list: Vec<i64>,
        #[serde(with = "super::i32n", skip_serializing_if = "super::is_default")]
        small: i32,
    }

    #[test]
    fn int64_is_written_as_string_and_read_from_either() {
        let m = M {
            big: 1_700_000_000_000,
            list: vec![1, 2],
            small: 5,
        };
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"big":"1700000000000","list":["1","2"],"small":5}"#
        );
        let back: M =
            serde_json::from_str(r#"{"big":1700000000000,"list":[1,"2"],"small":"5"}"#).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn defaults_are_omitted() {
        assert_eq!(serde_json::to_string(&M::default()).unwrap(), "{}");
    }

    #[test]
    fn int64_rejects_non_integers() {
        assert!(serde_json::from_str::<M>(r#"{"big":"x1"}"#).is_err());
        assert!(serde_json::from_str::<M>(r#"{"big":1.5}"#).is_err());
        assert!(serde_json::from_str::<M>(r#"{"small":4294967296}"#).is_err());
    }
}
