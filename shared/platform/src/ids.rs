//! Identifiers: UUIDv7 text, time-ordered so indexes stay append-mostly.

/// A new UUIDv7 as 36-character lowercase text.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// A new request id: UUIDv7 without dashes, short enough to read aloud from a screenshot.
/// Its random part comes from the thread's userspace generator rather than a system call per
/// request (every request gets one); ids of rows keep [`new_id`]'s in-process ordering.
pub fn new_request_id() -> String {
    use rand::RngCore;
    let mut random = [0u8; 10];
    rand::thread_rng().fill_bytes(&mut random);
    let ms = crate::time::now_ms().max(0) as u64;
    uuid::Builder::from_unix_timestamp_millis(ms, &random).into_uuid().simple().to_string()
}

/// A new random secret of `n_bytes` from the OS generator, as lowercase hex.
pub fn token(n_bytes: usize) -> String {
    use rand::RngCore;
    let mut bytes = vec![0u8; n_bytes];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Declares a typed id: text underneath (as in SQL and JSON), a type of its own so one kind of id
/// cannot be passed where another is meant.
///
/// ```ignore
/// city_platform::string_id!(
///     /// An appointment's id.
///     pub AppointmentId
/// );
/// ```
#[macro_export]
macro_rules! string_id {
    ($(#[$m:meta])* $vis:vis $name:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis struct $name(String);

        impl $name {
            /// The text form, as stored and sent.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The text form, by value.
            #[allow(dead_code)] // not every id is ever taken apart by value
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }
    };
}

#[cfg(test)]
mod tests {
    crate::string_id!(
        /// A test id.
        pub TestId
    );

    #[test]
    fn a_typed_id_reads_and_prints_as_its_text() {
        let id = TestId::from("abc");
        assert_eq!(id.as_str(), "abc");
        assert_eq!(id.to_string(), "abc");
        assert!(id == *"abc");
        assert_eq!(id.clone().into_string(), "abc");
    }

    #[test]
    fn request_ids_are_version_7_and_differ() {
        let a = uuid::Uuid::parse_str(&super::new_request_id()).unwrap();
        let b = uuid::Uuid::parse_str(&super::new_request_id()).unwrap();
        assert_eq!(a.get_version_num(), 7);
        assert_ne!(a, b);
        let (secs, _) = a.get_timestamp().unwrap().to_unix();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        assert!(now.abs_diff(secs) < 5, "the id carries the time it was made");
    }
}
