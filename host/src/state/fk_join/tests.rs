use super::*;
use ForeignKeyJoinKind::{Inner, Left};
use Instruction::*;

fn fk(s: &str) -> Option<Option<Vec<u8>>> {
    Some(Some(s.as_bytes().to_vec()))
}

#[test]
fn internal_records_survive_the_wire_and_foreign_bytes_are_refused() {
    let sub = Subscription {
        instruction: PropagateOnlyIfFkValAvailable,
        hash: hash(Some(b"v")),
        partition: 7,
        left_key: b"o1".to_vec(),
    };
    assert_eq!(Subscription::decode(&sub.encode()).unwrap(), sub);
    let deleted = Subscription {
        instruction: DeleteKeyAndPropagate,
        hash: None,
        partition: 0,
        left_key: Vec::new(),
    };
    assert_eq!(Subscription::decode(&deleted.encode()).unwrap(), deleted);
    for response in [
        Response {
            hash: hash(Some(b"v")),
            right: Some(b"Ann".to_vec()),
        },
        Response {
            hash: None,
            right: None,
        },
        Response {
            hash: None,
            right: Some(Vec::new()),
        },
    ] {
        assert_eq!(Response::decode(&response.encode()).unwrap(), response);
    }
    assert!(Subscription::decode(b"hello").is_err());
    assert!(Response::decode(&[1, 1, 0]).is_err());
    assert!(Response::decode(&[]).is_err());
    let stored = encode_subscriber(&hash(Some(b"x")), 3);
    assert_eq!(decode_subscriber(&stored).unwrap(), (hash(Some(b"x")), 3));
}

#[test]
fn one_right_keys_subscribers_are_one_range() {
    let keys = [
        subscription_key(b"c", b"o1"),
        subscription_key(b"c", b"o2"),
        subscription_key(b"c1", b"o3"),
        subscription_key(b"d", b""),
        subscription_key(b"c", &[0xff, 0xff]),
    ];
    let (lo, hi) = (subscribers(b"c"), subscribers_end(b"c"));
    let inside: Vec<bool> = keys.iter().map(|k| *k >= lo && *k < hi).collect();
    assert_eq!(inside, [true, true, false, false, true]);
    assert_eq!(left_key_of(&keys[1], b"c"), Some(&b"o2"[..]));
}

#[test]
fn left_updates_send_kafka_streams_instructions() {
    let cases: Vec<(
        ForeignKeyJoinKind,
        Option<Option<Vec<u8>>>,
        Option<Option<Vec<u8>>>,
        Vec<(&str, Instruction)>,
        Option<Local>,
    )> = vec![
        // A new row: an inner join answers only with a right row.
        (Inner, None, fk("c1"), vec![("c1", PropagateOnlyIfFkValAvailable)], None),
        (
            Left,
            None,
            fk("c1"),
            vec![("c1", PropagateNullIfNoFkValAvailable)],
            None,
        ),
        // Same key, new value: answered either way (may retract).
        (
            Inner,
            fk("c1"),
            fk("c1"),
            vec![("c1", PropagateNullIfNoFkValAvailable)],
            None,
        ),
        // Another key: the old subscription goes quietly.
        (
            Inner,
            fk("c1"),
            fk("c2"),
            vec![("c1", DeleteKeyNoPropagate), ("c2", PropagateNullIfNoFkValAvailable)],
            None,
        ),
        // Deleted: the answer retracts the result.
        (Inner, fk("c1"), None, vec![("c1", DeleteKeyAndPropagate)], None),
        (Left, fk("c1"), None, vec![("c1", DeleteKeyAndPropagate)], None),
        // The key went missing from the value.
        (Inner, fk("c1"), Some(None), vec![("c1", DeleteKeyAndPropagate)], None),
        (
            Left,
            fk("c1"),
            Some(None),
            vec![("c1", DeleteKeyNoPropagate)],
            Some(Local::Unmatched),
        ),
        (Left, None, Some(None), vec![], Some(Local::Unmatched)),
        (Inner, None, Some(None), vec![], None),
        (Left, Some(None), None, vec![], Some(Local::Tombstone)),
        (Inner, Some(None), None, vec![], None),
        (
            Inner,
            Some(None),
            fk("c1"),
            vec![("c1", PropagateOnlyIfFkValAvailable)],
            None,
        ),
        (Inner, None, None, vec![], None),
    ];
    for (kind, old, new, send, local) in cases {
        let update = left_update(kind, old.clone(), new.clone());
        let want: Vec<(Vec<u8>, Instruction)> = send.iter().map(|(k, i)| (k.as_bytes().to_vec(), *i)).collect();
        assert_eq!(update.send, want, "{kind:?} {old:?} -> {new:?}");
        assert_eq!(update.local, local, "{kind:?} {old:?} -> {new:?}");
    }
}

#[test]
fn an_answer_for_a_value_that_changed_since_is_stale() {
    let old = br#"{"customer":"c1","item":"pen"}"#;
    let new = br#"{"customer":"c2","item":"pen"}"#;
    let answer = Response {
        hash: hash(Some(old)),
        right: Some(b"Ann".to_vec()),
    };
    assert_eq!(on_response(Inner, Some(new), &answer), Outcome::Stale);
    assert_eq!(
        on_response(Inner, Some(old), &answer),
        Outcome::Join {
            left: old,
            right: Some(b"Ann")
        }
    );
    let missing = Response {
        hash: hash(Some(old)),
        right: None,
    };
    assert_eq!(on_response(Inner, Some(old), &missing), Outcome::Tombstone);
    assert_eq!(
        on_response(Left, Some(old), &missing),
        Outcome::Join { left: old, right: None }
    );
    let deleted = Response {
        hash: None,
        right: None,
    };
    assert_eq!(on_response(Inner, None, &deleted), Outcome::Tombstone);
    assert_eq!(on_response(Inner, Some(old), &deleted), Outcome::Stale);
}
