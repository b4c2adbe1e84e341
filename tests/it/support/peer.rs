//! Reading MQTT frames off a blocking socket, for the small peers tests play where no
//! installed broker shows a behaviour the specification allows.

#![allow(dead_code)]

/// One MQTT frame read from `stream`, or `None` at its end (or on a malformed length).
pub fn read_frame(stream: &mut std::net::TcpStream) -> Option<bytes::Bytes> {
    use std::io::Read;
    let mut first = [0u8; 1];
    stream.read_exact(&mut first).ok()?;
    let (mut len, mut shift) = (0usize, 0);
    loop {
        let mut b = [0u8; 1];
        stream.read_exact(&mut b).ok()?;
        if shift > 21 {
            return None;
        }
        len |= usize::from(b[0] & 0x7F) << shift;
        shift += 7;
        if b[0] & 0x80 == 0 {
            break;
        }
    }
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).ok()?;
    let mut frame = vec![first[0]];
    mqtt_conform::codec::varint::encode(u32::try_from(len).ok()?, &mut frame);
    frame.extend_from_slice(&body);
    Some(frame.into())
}
