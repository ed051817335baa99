//! The shell's clock. The domain never reads time; the shell reads it here and passes it in.

use chrono::{DateTime, SubsecRound, Utc};

/// Now, to the microsecond: both databases store microseconds, so a value read back equals the
/// value written.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}
