//! Exact money from decimal text: JSON numbers from the app, Freshchat property values.
//!
//! Input: one byte choosing the currency, then the text.
#![no_main]

use domain::money::{Currency, Money, MoneyError};
use libfuzzer_sys::fuzz_target;
use switchboard_fuzz::text;

const CURRENCIES: [&str; 4] = ["INR", "JPY", "KWD", "USD"];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let Ok(currency) = Currency::parse(CURRENCIES[usize::from(pick) % CURRENCIES.len()]) else {
        return;
    };
    let input = text(rest);
    let _ = Currency::parse(&input);
    let parsed = Money::parse_decimal(&input, currency);
    if let Some(expected) = reference(&input, currency) {
        assert_eq!(parsed, expected, "{input:?} in {currency}");
    }
    let Ok(money) = parsed else {
        return;
    };
    if money.is_negative() {
        assert!(input.starts_with('-'));
    }
    // Decimal text round-trips exactly.
    let decimal = money.to_decimal_string(currency);
    assert_eq!(
        Money::parse_decimal(&decimal, currency),
        Ok(money),
        "{input:?} → {decimal}"
    );
    // So does a JSON number, below 10^15 minor units (documented on `to_json_number`).
    if money.minor().unsigned_abs() < 1_000_000_000_000_000 {
        let number = money.to_json_number(currency);
        assert_eq!(
            Money::from_json_number(&number, currency),
            Ok(money),
            "{input:?} → {number}"
        );
    }
    let _ = (money.whole_major_units(currency), money.saturating_add(money));
});

/// A straightforward model for plain `-?digits(.digits)?` text (no exponent): `None` when the
/// text is outside what the model covers.
fn reference(text: &str, currency: Currency) -> Option<Result<Money, MoneyError>> {
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (int_part, frac_part) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if (int_part.is_empty() && frac_part.is_empty()) || !all_digits(int_part) || !all_digits(frac_part) {
        return None;
    }
    let int_part = int_part.trim_start_matches('0');
    let exponent = usize::from(currency.exponent());
    let significant = frac_part.trim_end_matches('0');
    if significant.len() > exponent {
        return Some(Err(MoneyError::TooPrecise {
            currency: currency.code().to_owned(),
            exponent: currency.exponent(),
        }));
    }
    if int_part.len() > 30 {
        return None;
    }
    let whole: i128 = if int_part.is_empty() { 0 } else { int_part.parse().ok()? };
    let frac: i128 = if significant.is_empty() {
        0
    } else {
        significant.parse::<i128>().ok()? * 10_i128.pow((exponent - significant.len()) as u32)
    };
    let minor = whole * 10_i128.pow(exponent as u32) + frac;
    // The parser's documented range: at most 18 digits of minor units.
    if minor >= 1_000_000_000_000_000_000 {
        return Some(Err(MoneyError::OutOfRange));
    }
    let minor = i64::try_from(if negative { -minor } else { minor }).ok()?;
    Some(Ok(Money::from_minor(minor)))
}
