//! What the rules' evidence types share: one entry of `evidence.thresholds_crossed`, and the
//! serialisers that write a typed field in the contract's text form.
//!
//! Each rule's evidence is a type in its folder (`src/rules/<rule>/evidence.rs`); the registry
//! gathers them into [`crate::alert::Evidence`].

use std::fmt::Display;

use serde::{Serialize, Serializer};

/// One entry of an alert's `evidence.thresholds_crossed` (`alerts.md`): the value, the threshold
/// it crossed, and by how much it exceeds it.
///
/// Fields are declared in alphabetical order because that is the order in which the contract's
/// JSON has always listed them (the evidence used to be a sorted JSON map): a struct serialises
/// in declaration order. The three types may differ, because some rules compare a count with a
/// fractional baseline (`stuffing.global`) or report a rounded excess (`stuffing.asn`).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct ThresholdCrossed<V, T = V, E = V> {
    /// How far the value is past the threshold.
    pub exceeded_by: E,
    /// The configured (or learned) threshold.
    pub threshold: T,
    /// The measured value.
    pub value: V,
}

impl<T> ThresholdCrossed<T, T, T>
where
    T: Copy + PartialOrd + std::ops::Sub<Output = T> + Default,
{
    /// `value` against `threshold` of the same type; `exceeded_by` is never negative (a value
    /// at the threshold has crossed it by zero).
    pub fn new(value: T, threshold: T) -> Self {
        let exceeded_by = if value > threshold {
            value - threshold
        } else {
            T::default()
        };
        ThresholdCrossed {
            exceeded_by,
            threshold,
            value,
        }
    }
}

/// Serialises a value as its `Display` text, for `#[serde(serialize_with = ...)]` on a typed
/// evidence field whose contract form is text (an [`crate::event::AddressHash`]'s short form).
pub fn display<T: Display, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

/// [`display`] for an optional value (`null` when absent).
pub fn display_opt<T: Display, S: Serializer>(v: &Option<T>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.collect_str(v),
        None => s.serialize_none(),
    }
}

/// [`display`] for each element of a list.
pub fn display_seq<T: Display, S: Serializer>(v: &[T], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(v.iter().map(|x| x.to_string()))
}

/// What a rule's evidence tests check.
#[cfg(test)]
pub(crate) mod testing {
    use serde::Serialize;

    /// `evidence` serialises to exactly `want`, and its keys, nested ones included, are in
    /// alphabetical order: the order the contract's JSON had when evidence was a sorted JSON
    /// map. (Going through `serde_json::Value` sorts every object; if that changes the text, a
    /// field is declared out of order.)
    pub(crate) fn assert_json<T: Serialize>(evidence: &T, want: &str) {
        let text = serde_json::to_string(evidence).expect("evidence serialises");
        let sorted = serde_json::to_value(evidence)
            .and_then(|v| serde_json::to_string(&v))
            .expect("evidence serialises");
        assert_eq!(text, sorted, "evidence keys out of alphabetical order");
        assert_eq!(text, want);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_order_check_catches_a_field_out_of_order() {
        #[derive(Serialize)]
        struct Unsorted {
            b: u32,
            a: u32,
        }
        let caught = std::panic::catch_unwind(|| {
            testing::assert_json(&Unsorted { b: 1, a: 2 }, r#"{"b":1,"a":2}"#)
        });
        assert!(caught.is_err());
        testing::assert_json(
            &ThresholdCrossed::new(3u32, 2),
            r#"{"exceeded_by":1,"threshold":2,"value":3}"#,
        );
    }

    #[test]
    fn keys_are_sorted_and_the_excess_never_negative() {
        let t = ThresholdCrossed::new(120u32, 100);
        assert_eq!(
            serde_json::to_string(&t).unwrap(),
            r#"{"exceeded_by":20,"threshold":100,"value":120}"#
        );
        assert_eq!(ThresholdCrossed::new(100u32, 100).exceeded_by, 0);
        assert_eq!(ThresholdCrossed::new(0.5f64, 0.8).exceeded_by, 0.0);
        let mixed = ThresholdCrossed {
            exceeded_by: 2.5f64,
            threshold: 10.5f64,
            value: 13u32,
        };
        assert_eq!(
            serde_json::to_string(&mixed).unwrap(),
            r#"{"exceeded_by":2.5,"threshold":10.5,"value":13}"#
        );
    }
}
