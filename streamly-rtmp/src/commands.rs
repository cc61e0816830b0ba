//! The AMF0 payloads of the commands this server answers (RTMP spec §7.2,
//! plus the `_result`/`onStatus` shapes ffmpeg and OBS expect, as sent by
//! Adobe Media Server and nginx-rtmp), and `onMetaData` parsing.

use streamly_core::media::StreamMetadata;

use crate::amf0::{Amf0Value, encode_all};

fn s(v: &str) -> Amf0Value {
    Amf0Value::String(v.to_owned())
}

fn obj(props: &[(&str, Amf0Value)]) -> Amf0Value {
    Amf0Value::Object(props.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect())
}

/// `_result` for `connect`.
pub(crate) fn connect_result(txn: f64) -> Vec<u8> {
    encode_all(&[
        s("_result"),
        Amf0Value::Number(txn),
        obj(&[
            ("fmsVer", s("FMS/3,0,1,123")),
            ("capabilities", Amf0Value::Number(31.0)),
        ]),
        obj(&[
            ("level", s("status")),
            ("code", s("NetConnection.Connect.Success")),
            ("description", s("Connection succeeded.")),
            ("objectEncoding", Amf0Value::Number(0.0)),
        ]),
    ])
}

/// `_error` for a refused `connect`.
pub(crate) fn connect_rejected(txn: f64, description: &str) -> Vec<u8> {
    encode_all(&[
        s("_error"),
        Amf0Value::Number(txn),
        Amf0Value::Null,
        obj(&[
            ("level", s("error")),
            ("code", s("NetConnection.Connect.Rejected")),
            ("description", s(description)),
        ]),
    ])
}

/// `_result` with a plain value (createStream's stream id, or undefined).
pub(crate) fn simple_result(txn: f64, value: Amf0Value) -> Vec<u8> {
    encode_all(&[s("_result"), Amf0Value::Number(txn), Amf0Value::Null, value])
}

/// `onStatus` on a `NetStream`.
pub(crate) fn on_status(level: &str, code: &str, description: &str) -> Vec<u8> {
    encode_all(&[
        s("onStatus"),
        Amf0Value::Number(0.0),
        Amf0Value::Null,
        obj(&[
            ("level", s(level)),
            ("code", s(code)),
            ("description", s(description)),
        ]),
    ])
}

/// Normalises an application name: drops a `?query` and trailing slashes.
pub(crate) fn normalize_app(app: &str) -> &str {
    app.split('?').next().unwrap_or("").trim_end_matches('/')
}

/// Extracts `onMetaData` from the values of an AMF0 data message
/// (`["@setDataFrame", "onMetaData", {…}]` or `["onMetaData", {…}]`).
pub(crate) fn parse_metadata(values: &[Amf0Value]) -> Option<StreamMetadata> {
    let mut rest = values;
    if rest.first().and_then(Amf0Value::as_str) == Some("@setDataFrame") {
        rest = &rest[1..];
    }
    if rest.first().and_then(Amf0Value::as_str) != Some("onMetaData") {
        return None;
    }
    let props = rest.get(1)?;
    props.properties()?;
    let num = |k: &str| props.get(k).and_then(Amf0Value::as_number);
    Some(StreamMetadata {
        width: num("width"),
        height: num("height"),
        frame_rate: num("framerate"),
        video_data_rate: num("videodatarate"),
        audio_data_rate: num("audiodatarate"),
        encoder: props
            .get("encoder")
            .and_then(Amf0Value::as_str)
            .map(str::to_owned),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::amf0::decode_all;

    #[test]
    fn metadata_from_set_data_frame() {
        let values = [
            s("@setDataFrame"),
            s("onMetaData"),
            Amf0Value::EcmaArray(vec![
                ("width".into(), Amf0Value::Number(320.0)),
                ("framerate".into(), Amf0Value::Number(25.0)),
                ("encoder".into(), s("Lavf59")),
            ]),
        ];
        let bytes = encode_all(&values);
        let meta = parse_metadata(&decode_all(&bytes).expect("decodes")).expect("metadata");
        assert_eq!(meta.width, Some(320.0));
        assert_eq!(meta.frame_rate, Some(25.0));
        assert_eq!(meta.encoder.as_deref(), Some("Lavf59"));
        assert_eq!(meta.height, None);
        assert!(parse_metadata(&[s("onCuePoint")]).is_none());
    }

    #[test]
    fn app_names() {
        assert_eq!(normalize_app("live"), "live");
        assert_eq!(normalize_app("live/"), "live");
        assert_eq!(normalize_app("live?token=x"), "live");
    }
}
