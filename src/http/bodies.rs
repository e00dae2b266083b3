//! Every JSON request body the handlers read, reachable from outside the crate so that the
//! fuzz targets (`fuzz/`) exercise the very types and parser the server uses; the body types
//! themselves stay private to their handlers.

use super::extract::parse_json;
use super::{
    api_keys, auth, boards, customers, live, members, notification_prefs, share_links, validate,
};
use boardroom_protocol::OpRequest;

/// Parses `bytes` as each request body, as `extract::Body` does, and runs the shared field
/// checks on the bytes read as text. Results are dropped: the point is that nothing panics.
pub fn parse_all(bytes: &[u8]) {
    let _ = parse_json::<auth::LoginBody>(bytes);
    let _ = parse_json::<auth::RefreshBody>(bytes);
    let _ = parse_json::<members::CreateMember>(bytes);
    let _ = parse_json::<members::PatchMember>(bytes);
    let _ = parse_json::<boards::CreateBoard>(bytes);
    let _ = parse_json::<customers::CreateCustomer>(bytes);
    let _ = parse_json::<customers::PatchCustomer>(bytes);
    let _ = parse_json::<api_keys::CreateKey>(bytes);
    let _ = parse_json::<share_links::CreateLink>(bytes);
    let _ = parse_json::<live::ReadBody>(bytes);
    let _ = parse_json::<live::PanicBody>(bytes);
    let _ = parse_json::<notification_prefs::PutPrefs>(bytes);
    let _ = parse_json::<OpRequest>(bytes);
    let text = String::from_utf8_lossy(bytes);
    let _ = validate::text("f", &text, 64);
    let _ = validate::optional_text("f", Some(&text), 64);
    let _ = validate::email("f", &text);
    let _ = validate::password("f", &text);
}
