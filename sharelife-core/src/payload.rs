//! Typed convenience over byte payloads: what a handler takes and returns.
//!
//! A `#[handler]` method's input type implements [`FromPayload`] and its
//! return type [`IntoOutput`]; raw bytes and UTF-8 text pass through as they
//! are, and [`Json`] carries anything serde can handle.
#![forbid(unsafe_code)]

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::{Buffer, PluginError};

/// A value carried as JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Json<T>(pub T);

/// Decodes a handler's input from the payload bytes.
pub trait FromPayload<'a>: Sized {
    /// Decodes `bytes`.
    ///
    /// # Errors
    ///
    /// An [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) error
    /// saying what was expected.
    fn from_payload(bytes: &'a [u8]) -> Result<Self, PluginError>;
}

impl<'a> FromPayload<'a> for &'a [u8] {
    fn from_payload(bytes: &'a [u8]) -> Result<Self, PluginError> {
        Ok(bytes)
    }
}

impl FromPayload<'_> for Vec<u8> {
    fn from_payload(bytes: &[u8]) -> Result<Self, PluginError> {
        Ok(bytes.to_vec())
    }
}

impl<'a> FromPayload<'a> for &'a str {
    fn from_payload(bytes: &'a [u8]) -> Result<Self, PluginError> {
        std::str::from_utf8(bytes)
            .map_err(|e| PluginError::invalid_input(format!("expected UTF-8 text: {e}")))
    }
}

impl FromPayload<'_> for String {
    fn from_payload(bytes: &[u8]) -> Result<Self, PluginError> {
        <&str>::from_payload(bytes).map(str::to_owned)
    }
}

impl FromPayload<'_> for () {
    fn from_payload(_: &[u8]) -> Result<Self, PluginError> {
        Ok(())
    }
}

impl<T: DeserializeOwned> FromPayload<'_> for Json<T> {
    fn from_payload(bytes: &[u8]) -> Result<Self, PluginError> {
        serde_json::from_slice(bytes).map(Json).map_err(|e| {
            PluginError::invalid_input(format!("expected JSON {}: {e}", std::any::type_name::<T>()))
        })
    }
}

/// Encodes a handler's return value into the output buffer.
pub trait IntoOutput {
    /// Appends `self` to `out`.
    ///
    /// # Errors
    ///
    /// The handler's own error (for `Result`) or a serialization failure.
    fn write_output(self, out: &mut Buffer) -> Result<(), PluginError>;
}

impl IntoOutput for () {
    fn write_output(self, _: &mut Buffer) -> Result<(), PluginError> {
        Ok(())
    }
}

impl IntoOutput for &[u8] {
    fn write_output(self, out: &mut Buffer) -> Result<(), PluginError> {
        out.extend_from_copy_slice(self);
        Ok(())
    }
}

impl IntoOutput for Vec<u8> {
    fn write_output(self, out: &mut Buffer) -> Result<(), PluginError> {
        out.extend_from_copy_slice(&self);
        Ok(())
    }
}

impl IntoOutput for &str {
    fn write_output(self, out: &mut Buffer) -> Result<(), PluginError> {
        out.extend_from_copy_slice(self.as_bytes());
        Ok(())
    }
}

impl IntoOutput for String {
    fn write_output(self, out: &mut Buffer) -> Result<(), PluginError> {
        self.as_str().write_output(out)
    }
}

impl<T: Serialize> IntoOutput for Json<T> {
    fn write_output(self, out: &mut Buffer) -> Result<(), PluginError> {
        serde_json::to_writer(out, &self.0)
            .map_err(|e| PluginError::new(format!("could not encode output as JSON: {e}")))
    }
}

impl<T: IntoOutput, E: Into<PluginError>> IntoOutput for Result<T, E> {
    fn write_output(self, out: &mut Buffer) -> Result<(), PluginError> {
        self.map_err(Into::into)?.write_output(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_input_rejects_invalid_utf8_with_a_clear_error() {
        let err = <&str>::from_payload(&[0xff, 0xfe]).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::InvalidInput);
        assert!(err.message().starts_with("expected UTF-8 text"), "{err}");
    }

    #[test]
    fn json_round_trips_and_names_the_type_on_error() {
        let mut out = Buffer::new();
        Json(vec![1, 2]).write_output(&mut out).unwrap();
        assert_eq!(out.as_slice(), b"[1,2]");
        let Json(back) = Json::<Vec<u8>>::from_payload(&out).unwrap();
        assert_eq!(back, vec![1, 2]);
        let err = Json::<u32>::from_payload(b"\"x\"").unwrap_err();
        assert!(err.message().contains("u32"), "{err}");
    }

    #[test]
    fn result_output_propagates_the_handler_error() {
        let mut out = Buffer::new();
        let r: Result<String, PluginError> = Err(PluginError::retryable("busy"));
        let err = r.write_output(&mut out).unwrap_err();
        assert!(err.is_retryable());
        assert!(out.is_empty());
    }
}
