#![allow(clippy::unwrap_used)]
use chrono::{TimeZone, Utc};
use sha2::{Digest, Sha256};

use super::*;
use crate::domain::{ChangeSource, Identity};

fn fp(stack: &str) -> Fingerprint {
    Fingerprint {
        account: "123456789012".into(),
        region: "us-east-1".into(),
        stack: stack.into(),
        logical_id: "WebSG".into(),
    }
}

fn ticket(fingerprint: Fingerprint) -> Ticket {
    let change = Change {
        event_id: "e1".into(),
        time: Utc.with_ymd_and_hms(2026, 3, 1, 10, 0, 0).unwrap(),
        account: "123456789012".into(),
        region: "us-east-1".into(),
        source: ChangeSource::Cloudtrail,
        service: "ec2".into(),
        operation: "AuthorizeSecurityGroupIngress".into(),
        resource: ResourceRef::new("AWS::EC2::SecurityGroup", "sg-1"),
        identity: Identity::default(),
        request: serde_json::Value::Null,
        response: serde_json::Value::Null,
        stack_hint: None,
        drift_hint: None,
        unparsed: Vec::new(),
    };
    Ticket::new(fingerprint, &change, &Ownership::Unmanaged, change.time)
}

#[test]
fn the_key_is_128_bits_of_the_fingerprints_hash_and_the_display_id_its_prefix() {
    let f = fp("app");
    let id = f.ticket_id();
    assert_eq!(id.len(), 3 + 32);
    assert_eq!(TicketIdForm::of(&id), Some(TicketIdForm::Full));
    let mut h = Sha256::new();
    for part in ["123456789012", "us-east-1", "app", "WebSG"] {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    let hash = hex::encode(h.finalize());
    assert_eq!(id, format!("DG-{}", &hash[..32]));
    // The display id is the id stored before (48 bits), and the key's prefix.
    assert_eq!(f.display_id(), format!("DG-{}", &hash[..12]));
    assert_eq!(display_id(&id), f.display_id());
    assert_eq!(ticket(f.clone()).display_id(), f.display_id());
    assert_eq!(TicketIdForm::of(&f.display_id()), Some(TicketIdForm::Short));
    for bad in [
        "DG-",
        "DG-XYZ",
        "dg-0123456789ab",
        "DG-0123456789AB",
        "DG-0123456789a",
    ] {
        assert_eq!(TicketIdForm::of(bad), None, "{bad}");
    }
    assert_ne!(fp("app").ticket_id(), fp("app2").ticket_id());
}

#[test]
fn a_ticket_read_by_key_must_be_the_keys_ticket() {
    let t = ticket(fp("app"));
    assert!(!t.is_legacy());
    t.check_key(&fp("app").ticket_id()).unwrap();
    // Stored under another ticket's key: an error, not a match.
    let e = t.check_key(&fp("other").ticket_id()).unwrap_err();
    assert!(e.to_string().contains("says it is"), "{e}");
    // Its id rewritten to another key, its fingerprint not: refused.
    let mut forged = t.clone();
    forged.id = fp("other").ticket_id();
    let e = forged.check_key(&forged.id.clone()).unwrap_err();
    assert!(e.to_string().contains("has the fingerprint of"), "{e}");
    assert!(
        e.to_string().contains("123456789012/us-east-1/app/WebSG"),
        "{e}"
    );
    // A ticket stored before 128-bit ids: read-only history, still checked.
    let mut legacy = t.clone();
    legacy.id = fp("app").display_id();
    legacy.check_key(&legacy.id.clone()).unwrap();
    assert!(legacy.is_legacy());
    let mut legacy_forged = t.clone();
    legacy_forged.id = fp("other").display_id();
    assert!(legacy_forged.check_key(&legacy_forged.id.clone()).is_err());
    let mut garbage = t;
    garbage.id = "ticket-1".into();
    assert!(garbage.check_key("ticket-1").is_err());
}
