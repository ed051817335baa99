//! Exact money: integer minor units, never a float.
//!
//! Amounts arrive as JSON numbers (`4999.99`) and are parsed from their decimal text, so no
//! binary rounding can creep in; they leave as decimal numbers in the tenant's currency.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An ISO 4217 currency with its number of minor-unit digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Currency {
    code: [u8; 3],
    exponent: u8,
}

/// Currencies whose minor unit is not the usual hundredth.
const ODD_EXPONENTS: &[(&str, u8)] = &[
    ("BHD", 3),
    ("CLP", 0),
    ("IQD", 3),
    ("ISK", 0),
    ("JOD", 3),
    ("JPY", 0),
    ("KRW", 0),
    ("KWD", 3),
    ("LYD", 3),
    ("OMR", 3),
    ("PYG", 0),
    ("TND", 3),
    ("UGX", 0),
    ("VND", 0),
    ("XAF", 0),
    ("XOF", 0),
];

impl Currency {
    pub const INR: Currency = Currency {
        code: *b"INR",
        exponent: 2,
    };

    /// Parses a three-letter upper-case ISO code.
    pub fn parse(code: &str) -> Result<Self, MoneyError> {
        let bytes: [u8; 3] = code
            .as_bytes()
            .try_into()
            .map_err(|_| MoneyError::BadCurrency(code.to_owned()))?;
        if !bytes.iter().all(u8::is_ascii_uppercase) {
            return Err(MoneyError::BadCurrency(code.to_owned()));
        }
        let exponent = ODD_EXPONENTS
            .iter()
            .find(|(c, _)| c.as_bytes() == bytes)
            .map_or(2, |(_, e)| *e);
        Ok(Self { code: bytes, exponent })
    }

    pub fn code(&self) -> &str {
        // The bytes were checked to be ASCII upper-case letters on construction.
        std::str::from_utf8(&self.code).unwrap_or("XXX")
    }

    pub fn exponent(&self) -> u8 {
        self.exponent
    }

    fn scale(&self) -> i64 {
        10_i64.pow(u32::from(self.exponent))
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Currency::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("'{0}' is not an ISO 4217 currency code")]
    BadCurrency(String),
    #[error("'{0}' is not a decimal amount")]
    NotANumber(String),
    #[error("{currency} amounts have at most {exponent} decimal places")]
    TooPrecise { currency: String, exponent: u8 },
    #[error("amount is out of range")]
    OutOfRange,
}

/// An amount in minor units (paise for INR). The currency is the tenant's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Money(i64);

impl Money {
    pub const ZERO: Money = Money(0);

    pub const fn from_minor(minor: i64) -> Self {
        Self(minor)
    }

    pub const fn minor(self) -> i64 {
        self.0
    }

    /// Whole major units (`Money::major(5_000, INR)` is ₹5,000.00).
    pub fn major(units: i64, currency: Currency) -> Self {
        Self(units.saturating_mul(currency.scale()))
    }

    pub fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// Parses a decimal text such as `4999.99`, `-12`, `1e3` or `25000.0`.
    pub fn parse_decimal(text: &str, currency: Currency) -> Result<Self, MoneyError> {
        let bad = || MoneyError::NotANumber(text.to_owned());
        let (mantissa, exp10) = match text.find(['e', 'E']) {
            Some(i) => (&text[..i], text[i + 1..].parse::<i32>().map_err(|_| bad())?),
            None => (text, 0),
        };
        let (negative, digits) = match mantissa.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, mantissa),
        };
        let (int_part, frac_part) = digits.split_once('.').unwrap_or((digits, ""));
        if int_part.is_empty() && frac_part.is_empty()
            || !int_part.bytes().all(|b| b.is_ascii_digit())
            || !frac_part.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(bad());
        }
        // All digits as one integer, and where the decimal point sits after applying the exponent.
        let all: String = format!("{int_part}{frac_part}");
        let all = all.trim_start_matches('0');
        let point = i64::from(exp10) - frac_part.len() as i64 + i64::from(currency.exponent);
        let mut trimmed = all.to_owned();
        let mut point = point;
        while point < 0 {
            match trimmed.pop() {
                Some('0') => point += 1,
                Some(_) => {
                    return Err(MoneyError::TooPrecise {
                        currency: currency.code().to_owned(),
                        exponent: currency.exponent,
                    });
                }
                None => {
                    point = 0;
                }
            }
        }
        if trimmed.is_empty() {
            return Ok(Money::ZERO);
        }
        if trimmed.len() as i64 + point > 18 {
            return Err(MoneyError::OutOfRange);
        }
        let base: i64 = trimmed.parse().map_err(|_| MoneyError::OutOfRange)?;
        let scaled = base
            .checked_mul(10_i64.pow(point as u32))
            .ok_or(MoneyError::OutOfRange)?;
        Ok(Money(if negative { -scaled } else { scaled }))
    }

    /// Parses a JSON number exactly, from its decimal text.
    pub fn from_json_number(n: &serde_json::Number, currency: Currency) -> Result<Self, MoneyError> {
        Self::parse_decimal(&n.to_string(), currency)
    }

    /// The amount as a decimal text in major units (`4999.99`, `5000`).
    pub fn to_decimal_string(self, currency: Currency) -> String {
        let scale = currency.scale();
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        let (whole, frac) = (abs / scale as u64, abs % scale as u64);
        if frac == 0 {
            format!("{sign}{whole}")
        } else {
            let frac = format!("{frac:0width$}", width = usize::from(currency.exponent));
            format!("{sign}{whole}.{}", frac.trim_end_matches('0'))
        }
    }

    /// The amount as a JSON number in major units. Amounts below 10^15 minor units print exactly.
    pub fn to_json_number(self, currency: Currency) -> serde_json::Number {
        let text = self.to_decimal_string(currency);
        if let Ok(i) = text.parse::<i64>() {
            return serde_json::Number::from(i);
        }
        text.parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .unwrap_or_else(|| serde_json::Number::from(0))
    }

    /// Whole major units, truncated toward zero (Freshdesk number fields take integers).
    pub fn whole_major_units(self, currency: Currency) -> i64 {
        self.0 / currency.scale()
    }

    pub fn saturating_add(self, other: Money) -> Money {
        Money(self.0.saturating_add(other.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inr(s: &str) -> Result<Money, MoneyError> {
        Money::parse_decimal(s, Currency::INR)
    }

    #[test]
    fn parses_decimals_exactly() {
        assert_eq!(inr("4999.99"), Ok(Money::from_minor(499_999)));
        assert_eq!(inr("5000"), Ok(Money::from_minor(500_000)));
        assert_eq!(inr("25000.0"), Ok(Money::from_minor(2_500_000)));
        assert_eq!(inr("0.1"), Ok(Money::from_minor(10)));
        assert_eq!(inr("-12.5"), Ok(Money::from_minor(-1250)));
        assert_eq!(inr("1e3"), Ok(Money::from_minor(100_000)));
        assert_eq!(inr("1.5E2"), Ok(Money::from_minor(15_000)));
        assert_eq!(inr("0"), Ok(Money::ZERO));
        assert_eq!(inr("0.000"), Ok(Money::ZERO));
        assert_eq!(inr("12.340"), Ok(Money::from_minor(1234)));
    }

    #[test]
    fn refuses_what_is_not_money() {
        assert!(matches!(inr("abc"), Err(MoneyError::NotANumber(_))));
        assert!(matches!(inr(""), Err(MoneyError::NotANumber(_))));
        assert!(matches!(inr("."), Err(MoneyError::NotANumber(_))));
        assert!(matches!(inr("1.2.3"), Err(MoneyError::NotANumber(_))));
        assert!(matches!(inr("4999.999"), Err(MoneyError::TooPrecise { .. })));
        assert!(matches!(inr("1e40"), Err(MoneyError::OutOfRange)));
    }

    #[test]
    fn json_numbers_round_trip() {
        for text in ["4999.99", "5000", "24999.99", "25000", "0.01", "123456789.12"] {
            let n: serde_json::Number = serde_json::from_str(text).expect("number");
            let m = Money::from_json_number(&n, Currency::INR).expect("money");
            assert_eq!(m.to_json_number(Currency::INR).to_string(), text);
        }
    }

    #[test]
    fn currencies_have_their_exponents() {
        let jpy = Currency::parse("JPY").expect("JPY");
        assert_eq!(Money::parse_decimal("500", jpy), Ok(Money::from_minor(500)));
        assert!(Money::parse_decimal("500.5", jpy).is_err());
        let kwd = Currency::parse("KWD").expect("KWD");
        assert_eq!(Money::parse_decimal("1.234", kwd), Ok(Money::from_minor(1234)));
        assert!(Currency::parse("inr").is_err());
        assert!(Currency::parse("RUPEE").is_err());
        assert_eq!(Money::from_minor(123_456).to_decimal_string(Currency::INR), "1234.56");
        assert_eq!(Money::from_minor(-5).to_decimal_string(Currency::INR), "-0.05");
        assert_eq!(Money::from_minor(123_456).whole_major_units(Currency::INR), 1234);
    }
}
