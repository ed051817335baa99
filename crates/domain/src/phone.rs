//! Phone numbers in E.164 (`+919876543210`), parsed from what people type.
//!
//! Accepted: `+91 98765 43210`, `+91-98765-43210`, `(0) 98765 43210`, `0091 9876543210`, and, with
//! a default country, national forms such as `09876543210` or `9876543210`. Spaces, `-`, `.`,
//! `(` and `)` are separators; anything else (letters, a `+` that is not first) is refused.
//! A national number is checked against its country's national length where known (India 10).

use std::fmt;

use serde::{Deserialize, Serialize};

/// A number in E.164 form: `+`, the country code and the national number, 8 to 15 digits.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct E164(String);

impl E164 {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for E164 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for E164 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse(&s, None).map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    #[error("must not be empty")]
    Empty,
    #[error("may contain only digits, a leading '+', spaces, '-', '.', '(' and ')'")]
    BadCharacters,
    #[error("must have between 8 and 15 digits including the country code")]
    BadLength,
    #[error("must start with '+' and the country code")]
    NeedsCountryCode,
    #[error("a +{country_code} number has {expected} digits after the country code")]
    BadNationalLength {
        country_code: &'static str,
        expected: usize,
    },
}

/// A country's calling code and, where fixed, the length of its national numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Country {
    pub calling_code: &'static str,
    pub national_length: Option<usize>,
}

const INDIA: Country = Country {
    calling_code: "91",
    national_length: Some(10),
};

/// Calling codes whose national numbers have one fixed length (checked when a number uses them).
/// E.164 country codes are prefix-free, so a number matches at most one of them.
const FIXED_LENGTHS: &[(&str, usize)] = &[("91", 10), ("1", 10), ("65", 8)];

impl Country {
    /// The country a tenant's currency implies, when it implies one: INR → India (+91),
    /// USD → +1, GBP → +44, SGD → +65, AED → +971. Shared currencies (EUR) imply none.
    pub fn for_currency(code: &str) -> Option<Country> {
        let calling_code = match code {
            "INR" => return Some(INDIA),
            "USD" => "1",
            "GBP" => "44",
            "SGD" => "65",
            "AED" => "971",
            _ => return None,
        };
        Some(Country {
            calling_code,
            national_length: fixed_length(calling_code),
        })
    }
}

fn fixed_length(calling_code: &str) -> Option<usize> {
    FIXED_LENGTHS
        .iter()
        .find(|(code, _)| *code == calling_code)
        .map(|(_, len)| *len)
}

/// Parses `input` into E.164. National numbers (no `+` or `00`) need `default_country`.
pub fn parse(input: &str, default_country: Option<Country>) -> Result<E164, PhoneError> {
    if input.trim().is_empty() {
        return Err(PhoneError::Empty);
    }
    // "+44 (0)20 …": the bracketed trunk zero is dialled only inside the country.
    let cleaned = input.replace("(0)", "");
    let (international, rest) = match cleaned.trim().strip_prefix('+') {
        Some(rest) => (true, rest),
        None => (false, cleaned.trim()),
    };
    let mut digits = String::with_capacity(rest.len());
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => return Err(PhoneError::BadCharacters),
        }
    }
    if digits.is_empty() {
        return Err(PhoneError::BadLength);
    }
    let full = if international {
        drop_trunk_zero(&digits)
    } else if let Some(rest) = digits.strip_prefix("00") {
        drop_trunk_zero(rest)
    } else {
        let country = default_country.ok_or(PhoneError::NeedsCountryCode)?;
        let national = digits.trim_start_matches('0');
        match country.national_length {
            // "919876543210": the country code typed without its '+'.
            Some(len)
                if national.len() == country.calling_code.len() + len && national.starts_with(country.calling_code) =>
            {
                national.to_owned()
            }
            _ => format!("{}{national}", country.calling_code),
        }
    };
    check(&full)?;
    Ok(E164(format!("+{full}")))
}

/// `+91 0 98765 43210`: a trunk 0 after a fixed-length country code is surplus.
fn drop_trunk_zero(digits: &str) -> String {
    for (code, len) in FIXED_LENGTHS {
        if let Some(national) = digits.strip_prefix(code)
            && national.len() == len + 1
            && let Some(rest) = national.strip_prefix('0')
        {
            return format!("{code}{rest}");
        }
    }
    digits.to_owned()
}

fn check(full: &str) -> Result<(), PhoneError> {
    if !(8..=15).contains(&full.len()) || full.starts_with('0') {
        return Err(PhoneError::BadLength);
    }
    if let Some((code, len)) = FIXED_LENGTHS.iter().find(|(code, _)| full.starts_with(code))
        && full.len() - code.len() != *len
    {
        return Err(PhoneError::BadNationalLength {
            country_code: code,
            expected: *len,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn india() -> Option<Country> {
        Country::for_currency("INR")
    }

    #[test]
    fn accepts_what_people_type() {
        let cases: &[(&str, Option<Country>, &str)] = &[
            ("+91 98765 43210", None, "+919876543210"),
            ("+91-98765-43210", None, "+919876543210"),
            ("+91 (0) 98765 43210", None, "+919876543210"),
            ("+91 0 98765 43210", None, "+919876543210"),
            ("0091 98765 43210", None, "+919876543210"),
            ("09876543210", india(), "+919876543210"),
            ("9876543210", india(), "+919876543210"),
            ("919876543210", india(), "+919876543210"),
            (" 98765.43210 ", india(), "+919876543210"),
            ("+1 (415) 555-0100", None, "+14155550100"),
            ("+44 20 7946 0958", None, "+442079460958"),
            ("+44 (0)20 7946 0958", None, "+442079460958"),
            ("+49 30 901820", None, "+4930901820"),
            ("(415) 555-0100", Country::for_currency("USD"), "+14155550100"),
        ];
        for (input, country, want) in cases {
            assert_eq!(parse(input, *country).map(|p| p.0).as_deref(), Ok(*want), "{input}");
        }
    }

    #[test]
    fn refuses_garbage() {
        let cases: &[(&str, Option<Country>, PhoneError)] = &[
            ("", india(), PhoneError::Empty),
            ("   ", india(), PhoneError::Empty),
            ("call me", india(), PhoneError::BadCharacters),
            ("98765x43210", india(), PhoneError::BadCharacters),
            ("+91+9876543210", None, PhoneError::BadCharacters),
            ("+", None, PhoneError::BadLength),
            ("12345", india(), PhoneError::BadLength),
            ("+1234567890123456", None, PhoneError::BadLength),
            ("9876543210", None, PhoneError::NeedsCountryCode),
            (
                "98765 4321",
                india(),
                PhoneError::BadNationalLength {
                    country_code: "91",
                    expected: 10,
                },
            ),
            (
                "+91 98765 432101",
                None,
                PhoneError::BadNationalLength {
                    country_code: "91",
                    expected: 10,
                },
            ),
            (
                "+1 415 555 010",
                None,
                PhoneError::BadNationalLength {
                    country_code: "1",
                    expected: 10,
                },
            ),
        ];
        for (input, country, want) in cases {
            assert_eq!(parse(input, *country).as_ref(), Err(want), "{input}");
        }
    }

    #[test]
    fn currencies_imply_countries() {
        assert_eq!(Country::for_currency("INR"), Some(INDIA));
        assert_eq!(Country::for_currency("USD").map(|c| c.calling_code), Some("1"));
        assert_eq!(Country::for_currency("EUR"), None);
    }

    #[test]
    fn e164_deserialises_only_international_numbers() {
        let ok: E164 = serde_json::from_str("\"+91 98765 43210\"").expect("parses");
        assert_eq!(ok.as_str(), "+919876543210");
        assert!(serde_json::from_str::<E164>("\"9876543210\"").is_err());
    }
}
