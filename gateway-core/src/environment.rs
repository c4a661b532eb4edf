//! Which environment a database belongs to: recorded when it is first migrated, so that nothing
//! test-only (the public test merchant, test instruments, `TEST_MODE`) ever reaches production.

/// A deployment's environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Environment {
    /// A developer's machine: the test merchant exists, test instruments decide outcomes,
    /// private webhook targets are allowed.
    Development,
    /// Real merchants and money: no test doors.
    Production,
}

impl Environment {
    /// The name as configured (`GATEWAY_ENV`) and recorded.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Development => "development",
            Self::Production => "production",
        }
    }

    /// Parses a configured or recorded name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "development" => Some(Self::Development),
            "production" => Some(Self::Production),
            _ => None,
        }
    }
}

/// Decides what to record for a database that has no environment yet, opened as `requested`:
/// `requested` itself, except that a development command may not claim a database that already
/// holds real merchants (one created before environments were recorded, perhaps a production
/// one) unless the operator asks explicitly (`gateway migrate`). `None`: refuse to open it.
pub fn environment_to_record(
    requested: Environment,
    explicit: bool,
    holds_real_merchants: bool,
) -> Option<Environment> {
    match requested {
        Environment::Development if holds_real_merchants && !explicit => None,
        _ => Some(requested),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_explicit_migrate_claims_a_database_with_merchants_for_development() {
        use Environment::{Development, Production};
        assert_eq!(
            environment_to_record(Development, false, false),
            Some(Development)
        );
        assert_eq!(environment_to_record(Development, false, true), None);
        assert_eq!(
            environment_to_record(Development, true, true),
            Some(Development)
        );
        assert_eq!(
            environment_to_record(Production, false, true),
            Some(Production)
        );
    }

    #[test]
    fn environments_round_trip_through_their_names() {
        for env in [Environment::Development, Environment::Production] {
            assert_eq!(Environment::parse(env.as_str()), Some(env));
        }
        assert_eq!(Environment::parse("staging"), None);
    }
}
