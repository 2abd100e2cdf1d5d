//! Ids typed on the command line: a whole UUID or a unique prefix of at
//! least four hex digits, resolved against what this device holds.

use std::fmt;
use std::str::FromStr;

use uuid::Uuid;

use crate::error::CliError;

/// The fewest hex digits a prefix may have.
pub const MIN_PREFIX: usize = 4;
/// How many hex digits listings show, enough to be unique in practice.
pub const SHORT: usize = 8;

/// A UUID or a prefix of one, as hex digits without dashes, lowercase.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UuidPrefix(String);

impl FromStr for UuidPrefix {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let hex: String = s
            .trim()
            .chars()
            .filter(|c| *c != '-')
            .map(|c| c.to_ascii_lowercase())
            .collect();
        if hex.len() < MIN_PREFIX || hex.len() > 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!(
                "`{s}` is not an id: give the UUID or its first {MIN_PREFIX} or more hex \
                 digits, as `gridsync ticket list` shows them"
            ));
        }
        Ok(Self(hex))
    }
}

impl fmt::Display for UuidPrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl UuidPrefix {
    /// The UUID itself when all 32 digits were given.
    pub fn whole(&self) -> Option<Uuid> {
        Uuid::parse_str(&self.0).ok()
    }

    pub fn matches(&self, id: &Uuid) -> bool {
        id.simple().to_string().starts_with(&self.0)
    }

    /// The one candidate this prefix names. `what` names the kind of thing
    /// ("ticket"), `list` the command that lists them; candidates come with
    /// a short description for the ambiguity message.
    pub fn resolve<I>(&self, candidates: I, what: &str, list: &str) -> Result<Uuid, CliError>
    where
        I: IntoIterator<Item = (Uuid, String)>,
    {
        if let Some(id) = self.whole() {
            return Ok(id);
        }
        let mut found: Vec<(Uuid, String)> = candidates
            .into_iter()
            .filter(|(id, _)| self.matches(id))
            .collect();
        found.sort_by_key(|(id, _)| *id);
        found.dedup_by_key(|(id, _)| *id);
        match found.len() {
            0 => Err(CliError::Refused(format!(
                "no {what} on this device starts with `{self}`; check the id with `{list}`, \
                 or sync first"
            ))),
            1 => Ok(found[0].0),
            n => {
                const SHOWN: usize = 10;
                let lines: Vec<String> = found
                    .iter()
                    .take(SHOWN)
                    .map(|(id, about)| format!("  {id}  {about}"))
                    .collect();
                let more = if n > SHOWN {
                    format!("\n  ... and {} more", n - SHOWN)
                } else {
                    String::new()
                };
                Err(CliError::Refused(format!(
                    "`{self}` matches {n} {what}s; give more digits of one of:\n{}{more}",
                    lines.join("\n")
                )))
            }
        }
    }
}

/// The first [`SHORT`] hex digits of an id, as listings show it.
pub fn short(id: &Uuid) -> String {
    id.simple().to_string()[..SHORT].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> Uuid {
        Uuid::parse_str(s).unwrap()
    }

    #[test]
    fn prefixes_resolve_or_explain() {
        let a = id("3f2a1b2c-0000-4000-8000-000000000001");
        let b = id("3f2a9999-0000-4000-8000-000000000002");
        let all = || vec![(a, "路灯".to_owned()), (b, "井盖".to_owned())];
        let p: UuidPrefix = "3F2A-1".parse().unwrap();
        assert_eq!(p.resolve(all(), "ticket", "list").unwrap(), a);
        let ambiguous: UuidPrefix = "3f2a".parse().unwrap();
        let err = ambiguous.resolve(all(), "ticket", "list").unwrap_err();
        assert!(err.to_string().contains("matches 2 tickets"), "{err}");
        assert!(err.to_string().contains("井盖"));
        let none: UuidPrefix = "abcd".parse().unwrap();
        assert!(none.resolve(all(), "ticket", "list").is_err());
        assert!("3f2".parse::<UuidPrefix>().is_err());
        assert!("3f2g".parse::<UuidPrefix>().is_err());
        let whole: UuidPrefix = b.to_string().parse().unwrap();
        assert_eq!(whole.resolve(Vec::new(), "ticket", "list").unwrap(), b);
        assert_eq!(short(&a), "3f2a1b2c");
    }
}
