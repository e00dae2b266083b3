#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| boardroom_fuzz::http_bodies(data));
