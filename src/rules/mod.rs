//! The detection rules, one folder each, and the one table that lists them.
//!
//! A rule's folder holds everything about it: `mod.rs` (what it detects, its id, its README
//! row), `config.rs` (its `[detect.<folder>]` settings with their defaults, `validate()` and
//! `build()`), `evidence.rs` (its alerts' typed evidence), `rule.rs` (the detector and its
//! tests) and `doc.md` (its row of the README's rule table). What rules share and is no rule (the traits, episodes, sharding, snapshots, the login
//! history) is in [`crate::detect`].
//!
//! The `registry!` macro below is the only place that names every rule. From its table come the
//! [`Rule`] enum (the ids of the alert contract), [`Evidence`] (an alert's typed evidence, one
//! variant per rule), [`DetectConfig`] (the `[detect]` section),
//! its validation, the detectors in their delivery order and the shared login history. Adding
//! a rule is a new folder and one line of the table: see `CONTRIBUTING.md`.

use crate::detect::{Detector, HistoryConfig, LoginHistories, RuleConfig};
use crate::error::ConfigError;

/// Expands the rule table. Each line is
/// `/// doc` `Variant => folder, delivery N;`: the [`Rule`] variant, the rule's folder (also its
/// config section `[detect.<folder>]`), and its place in the delivery order (the order in
/// which a rule sees an event, and so the order of one event's alerts).
macro_rules! registry {
    ($( $(#[$doc:meta])* $variant:ident => $folder:ident, delivery $pos:literal; )*) => {
        $( pub mod $folder; )*

        /// How many rules the registry lists.
        pub const RULE_COUNT: usize = [$(stringify!($variant)),*].len();

        /// A detection rule, by its stable id. Ordered as the registry lists them (the order
        /// of `alerts.md`), which is the order of the run summary.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Rule {
            $( $(#[$doc])* $variant, )*
        }

        impl Rule {
            /// Every rule, in the order of `alerts.md`.
            pub const ALL: [Rule; RULE_COUNT] = [$(Rule::$variant),*];

            /// The stable rule id (`stuffing.ip`).
            pub fn as_str(self) -> &'static str {
                match self {
                    $( Rule::$variant => $folder::ID, )*
                }
            }

            /// The rule's folder under `src/rules/`, which is also its config section
            /// (`[detect.<section>]`).
            pub fn section(self) -> &'static str {
                match self {
                    $( Rule::$variant => stringify!($folder), )*
                }
            }

            /// The rule's row of the README's rule table (its `doc.md`).
            pub fn readme_row(self) -> &'static str {
                match self {
                    $( Rule::$variant => $folder::README_ROW, )*
                }
            }

            /// The rule's place in the delivery order (see [`detectors`]).
            fn delivery(self) -> u32 {
                match self {
                    $( Rule::$variant => $pos, )*
                }
            }
        }

        /// An alert's evidence: the rule's own type (its folder's `evidence.rs`), serialised as
        /// that type alone (no tag), so the JSON is the rule's `evidence` object of `alerts.md`.
        /// Boxed: alerts are rare but moved often, and the largest evidence would otherwise make
        /// every alert (and every engine input that may hold one) several hundred bytes.
        #[derive(Debug, Clone, PartialEq, serde::Serialize)]
        #[serde(untagged)]
        pub enum Evidence {
            $( $(#[$doc])* $variant(Box<$folder::Evidence>), )*
        }

        impl Evidence {
            /// The rule whose evidence this is.
            pub fn rule(&self) -> Rule {
                match self {
                    $( Evidence::$variant(_) => Rule::$variant, )*
                }
            }

            /// Empty evidence of `rule` (every count zero), for tests that build alerts by hand.
            #[cfg(test)]
            pub(crate) fn empty(rule: Rule) -> Evidence {
                match rule {
                    $( Rule::$variant => Evidence::$variant(Box::default()), )*
                }
            }

            $(
                #[doc = concat!("The evidence of a `", stringify!($variant), "` alert, or `None` for another rule's.")]
                pub fn $folder(&self) -> Option<&$folder::Evidence> {
                    match self {
                        Evidence::$variant(e) => Some(e),
                        #[allow(unreachable_patterns)]
                        _ => None,
                    }
                }
            )*
        }

        $(
            impl From<$folder::Evidence> for Evidence {
                fn from(e: $folder::Evidence) -> Evidence {
                    Evidence::$variant(Box::new(e))
                }
            }
        )*

        /// Section `[detect]`: one sub-section per rule, named after its folder.
        #[derive(Debug, Clone, Default, serde::Deserialize)]
        #[serde(deny_unknown_fields, default)]
        pub struct DetectConfig {
            $(
                #[doc = concat!("`[detect.", stringify!($folder), "]`.")]
                pub $folder: $folder::Config,
            )*
        }

        impl DetectConfig {
            /// Each rule's settings, in registry order.
            pub fn rules(&self) -> [(Rule, &dyn RuleConfig); RULE_COUNT] {
                [$( (Rule::$variant, &self.$folder as &dyn RuleConfig), )*]
            }

            /// Each rule's default settings as a TOML table, keyed by section (for the test
            /// that the example config documents every key of every rule).
            #[cfg(test)]
            fn default_tables() -> Vec<(&'static str, toml::Table)> {
                vec![$(
                    (
                        stringify!($folder),
                        toml::Table::try_from($folder::Config::default())
                            .expect("a rule's settings serialize to a TOML table"),
                    ),
                )*]
            }
        }
    };
}

registry! {
    /// One address fails logins against many distinct accounts.
    StuffingIp => stuffing_ip, delivery 0;
    /// One ASN shows many failing addresses and accounts while each address stays low.
    StuffingAsn => stuffing_asn, delivery 4;
    /// Site-wide failure rates jump above their baseline.
    StuffingGlobal => stuffing_global, delivery 5;
    /// One account fails many times.
    BruteforceAccount => bruteforce_account, delivery 6;
    /// A successful login from an attacking source.
    CompromiseLogin => compromise_login, delivery 7;
    /// Reset → change → order from new addresses.
    TakeoverSequence => takeover_sequence, delivery 8;
    /// Many orders or a high total in a short window.
    OrdersBulk => orders_bulk, delivery 1;
    /// One ship-to receives orders from many accounts.
    OrdersDropAddress => orders_drop_address, delivery 2;
    /// Many password resets or security codes.
    ResetFlood => reset_flood, delivery 3;
}

impl DetectConfig {
    /// Checks every rule's settings; the first nonsense value is the error, naming its key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.rules().iter().try_for_each(|(_, c)| c.validate())
    }
}

/// The enabled detectors, in the order their alerts are delivered for one event (each rule's
/// `delivery` place in the registry). Rules whose state is wholly per key are sharded when
/// `shard` is true (see [`crate::detect::ShardedDetector`]), one instance each otherwise.
pub fn detectors(cfg: &DetectConfig, shard: bool) -> Vec<Box<dyn Detector>> {
    let mut rules = cfg.rules();
    rules.sort_by_key(|(rule, _)| rule.delivery());
    rules
        .iter()
        .filter(|(_, c)| c.enabled())
        .map(|(_, c)| c.build(shard))
        .collect()
}

/// The shared login history, when an enabled rule reads it: as many addresses per account and
/// as many accounts as the most generous of them asks for.
pub fn build_history(cfg: &DetectConfig) -> Option<LoginHistories> {
    cfg.rules()
        .iter()
        .filter_map(|(_, c)| c.history())
        .reduce(|a, b| HistoryConfig {
            known_sources: a.known_sources.max(b.known_sources),
            max_accounts: a.max_accounts.max(b.max_accounts),
        })
        .map(LoginHistories::new)
}

pub mod docs;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sections_and_delivery_places_are_distinct() {
        let mut ids: Vec<&str> = Rule::ALL.iter().map(|r| r.as_str()).collect();
        let mut sections: Vec<&str> = Rule::ALL.iter().map(|r| r.section()).collect();
        let mut places: Vec<u32> = Rule::ALL.iter().map(|r| r.delivery()).collect();
        ids.sort_unstable();
        ids.dedup();
        sections.sort_unstable();
        sections.dedup();
        places.sort_unstable();
        assert_eq!(ids.len(), RULE_COUNT);
        assert_eq!(sections.len(), RULE_COUNT);
        // Delivery places are 0..n, each once: a new rule takes the next free one.
        assert_eq!(places, (0..RULE_COUNT as u32).collect::<Vec<_>>());
        for rule in Rule::ALL {
            // The folder is the id with `_` for `.`: the config key says which rule it is.
            assert_eq!(rule.section(), rule.as_str().replace('.', "_"), "{rule:?}");
        }
    }

    #[test]
    fn each_rule_has_its_evidence_variant_serialised_untagged() {
        for rule in Rule::ALL {
            let e = Evidence::empty(rule);
            assert_eq!(e.rule(), rule);
            // No tag around the rule's own object: the alert's `evidence` is that object.
            let json = serde_json::to_value(&e).unwrap();
            let object = json.as_object().expect("evidence is a JSON object");
            assert!(object.len() > 1, "{rule}: {json}");
            assert!(!object.contains_key(&format!("{rule:?}")), "{rule}: tagged");
        }
        let e = Evidence::empty(Rule::OrdersBulk);
        assert!(e.orders_bulk().is_some() && e.stuffing_ip().is_none());
    }

    #[test]
    fn the_delivery_order_is_the_engines_order_of_old() {
        // Alerts of one event come out in this order; changing it changes every output. (A rule
        // added later takes a later place, so only the rules of old are compared.)
        let old = [
            "stuffing.ip",
            "orders.bulk",
            "orders.drop_address",
            "reset.flood",
            "stuffing.asn",
            "stuffing.global",
            "bruteforce.account",
            "compromise.login",
            "takeover.sequence",
        ];
        let order: Vec<&str> = detectors(&DetectConfig::default(), false)
            .iter()
            .map(|d| d.name())
            .filter(|n| old.contains(n))
            .collect();
        assert_eq!(order, old);
        // A rule turned off is left out, the others keep their order.
        let mut cfg = DetectConfig::default();
        cfg.orders_bulk.enabled = false;
        assert_eq!(detectors(&cfg, true).len(), RULE_COUNT - 1);
        for rule in Rule::ALL {
            let d = detectors(&DetectConfig::default(), true);
            assert!(d.iter().any(|d| d.name() == rule.as_str()), "{rule} built");
        }
    }

    #[test]
    fn the_history_is_kept_while_a_rule_reads_it() {
        let mut cfg = DetectConfig::default();
        let readers: Vec<Rule> = cfg
            .rules()
            .iter()
            .filter(|(_, c)| c.history().is_some())
            .map(|(r, _)| *r)
            .collect();
        assert_eq!(readers, [Rule::CompromiseLogin, Rule::TakeoverSequence]);
        assert!(build_history(&cfg).is_some());
        cfg.compromise_login.enabled = false;
        assert!(build_history(&cfg).is_some());
        cfg.takeover_sequence.enabled = false;
        assert!(build_history(&cfg).is_none());
    }

    #[test]
    fn the_readme_table_has_a_row_per_rule_from_its_folder() {
        let readme = include_str!("../../README.md");
        let table: Vec<&str> = readme
            .lines()
            .skip_while(|l| !l.starts_with("| rule | entity |"))
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .collect();
        assert_eq!(table.len(), RULE_COUNT, "one row per registered rule");
        for rule in Rule::ALL {
            let row = rule.readme_row().trim_end();
            assert!(
                row.starts_with(&format!("| `{}` |", rule.as_str())),
                "{rule}: doc.md names another rule: {row}"
            );
            assert!(
                table.contains(&row),
                "README's rule table lacks {rule}'s doc.md row (or differs from it)"
            );
        }
    }

    #[test]
    fn the_example_config_documents_every_key_of_every_rule_with_its_default() {
        let example: toml::Table = include_str!("../../credwatch.example.toml")
            .parse()
            .expect("credwatch.example.toml parses");
        let detect = example
            .get("detect")
            .and_then(|d| d.as_table())
            .expect("the example has a [detect] section");
        let defaults = DetectConfig::default_tables();
        assert_eq!(defaults.len(), RULE_COUNT);
        for (section, default) in defaults {
            let documented = detect
                .get(section)
                .and_then(|s| s.as_table())
                .unwrap_or_else(|| panic!("the example lacks [detect.{section}]"));
            let mut want: Vec<&String> = default.keys().collect();
            let mut have: Vec<&String> = documented.keys().collect();
            want.sort();
            have.sort();
            assert_eq!(
                have, want,
                "[detect.{section}]: keys differ from the settings"
            );
        }
        assert_eq!(
            detect.len(),
            RULE_COUNT,
            "the example documents a [detect.*] section no rule reads"
        );
    }
}
