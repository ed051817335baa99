//! Phone numbers as people type them (callback requests, customer profiles).
//!
//! Input: one byte choosing the default country (from a tenant currency, or none), then text.
#![no_main]

use domain::phone::{self, Country, E164};
use libfuzzer_sys::fuzz_target;
use switchboard_fuzz::text;

const CURRENCIES: [&str; 7] = ["INR", "USD", "GBP", "SGD", "AED", "EUR", ""];

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let country = Country::for_currency(CURRENCIES[usize::from(pick) % CURRENCIES.len()]);
    let input = text(rest);
    let Ok(number) = phone::parse(&input, country) else {
        return;
    };
    let e164 = number.as_str();
    // `+`, then 8 to 15 digits, the first not 0.
    let digits = e164.strip_prefix('+').expect("starts with +");
    assert!((8..=15).contains(&digits.len()), "{input:?} → {e164}");
    assert!(digits.bytes().all(|b| b.is_ascii_digit()), "{input:?} → {e164}");
    assert!(!digits.starts_with('0'), "{input:?} → {e164}");
    // E.164 is a fixed point: parsing it again, with or without a country, changes nothing,
    // and it survives the JSON round trip the API uses.
    assert_eq!(phone::parse(e164, None).as_ref(), Ok(&number), "{input:?} → {e164}");
    assert_eq!(phone::parse(e164, country).as_ref(), Ok(&number), "{input:?} → {e164}");
    let json = serde_json::to_string(&number).expect("serialises");
    assert_eq!(serde_json::from_str::<E164>(&json).ok().as_ref(), Some(&number));
});
