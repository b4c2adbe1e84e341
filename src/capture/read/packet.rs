//! One record's link layer (Ethernet with VLAN tags, Linux cooked SLL/SLL2, raw IP, BSD
//! loopback), IP and TCP headers, down to a [`Segment`].

use super::*;

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;

/// Follows VLAN tags from an EtherType to the IP packet; `None` when it is not IP.
pub(super) fn ip_from_ethertype(mut ethertype: u16, mut rest: &[u8]) -> Option<&[u8]> {
    for _ in 0..=MAX_VLAN_TAGS {
        match ethertype {
            ETHERTYPE_IPV4 | ETHERTYPE_IPV6 => return Some(rest),
            // 802.1Q, 802.1ad, and the pre-standard QinQ types.
            0x8100 | 0x88a8 | 0x9100 | 0x9200 | 0x9300 => {
                ethertype = be16(rest.get(..4)?, 2);
                rest = rest.get(4..)?;
            }
            _ => return None,
        }
    }
    None
}

/// The IP packet inside a BSD loopback frame with the given address family.
fn ip_from_family(family: u32, rest: &[u8]) -> Option<&[u8]> {
    // AF_INET is 2 everywhere; AF_INET6 is 24 (NetBSD, OpenBSD), 28 (FreeBSD),
    // 30 (macOS), and 10 on Linux.
    matches!(family, 2 | 10 | 24 | 28 | 30).then_some(rest)
}

/// The IP packet in a frame of the given link type; `None` when it carries no IP.
pub(super) fn ip_packet(link_type: u32, data: &[u8]) -> Option<&[u8]> {
    match link_type {
        linktype::ETHERNET => ip_from_ethertype(be16(data.get(..14)?, 12), data.get(14..)?),
        linktype::LINUX_SLL => ip_from_ethertype(be16(data.get(..16)?, 14), data.get(16..)?),
        linktype::LINUX_SLL2 => ip_from_ethertype(be16(data.get(..20)?, 0), data.get(20..)?),
        linktype::RAW | linktype::RAW_12 | linktype::RAW_14 | linktype::IPV4 | linktype::IPV6 => {
            Some(data)
        }
        linktype::NULL => {
            let head = data.get(..4)?;
            // The writer's byte order is unknown; families are small, so whichever end
            // holds the non-zero byte is the low one.
            let big = head.first() == Some(&0) && head.get(1) == Some(&0);
            ip_from_family(u32_at(head, 0, big), data.get(4..)?)
        }
        linktype::LOOP => ip_from_family(u32_at(data.get(..4)?, 0, true), data.get(4..)?),
        _ => None,
    }
}

/// Decodes one record down to a TCP segment.
///
/// Non-IP and non-TCP packets are [`Parsed::Other`]. An IP packet whose header cannot be
/// read, a TCP header cut off by the snap length, and a fragment of a TCP-carrying IP
/// packet (not reassembled) are [`Parsed::Notice`]s naming the frame. An undecoded link
/// type is a notice too ([`CaptureReader`] reports those once per interface instead).
///
/// The TCP payload ends where the IP header's length says, so Ethernet padding and
/// trailers are stripped; `missing` counts the payload bytes the IP length promises but
/// the record lacks (or, when the IP length is unusable, e.g. 0 after segmentation
/// offload, the bytes the record header says were cut).
pub fn parse_record<'a>(record: &Record<'a>) -> Parsed<'a> {
    if let Some(seg) =
        ip_packet(record.link_type, record.data).and_then(|ip| plain_ipv4_tcp(record, ip))
    {
        return Parsed::Tcp(seg);
    }
    parse_record_general(record)
}

/// The common case read directly: a whole, unfragmented IPv4 packet carrying a whole TCP
/// header. Anything else (IPv6, fragments, cut or odd lengths, short headers) is `None`
/// and goes the general way, which gives the same segment for what this accepts.
#[inline]
pub(super) fn plain_ipv4_tcp<'a>(record: &Record<'a>, ip: &'a [u8]) -> Option<Segment<'a>> {
    let header = ip.get(..20)?;
    let (version, ihl) = (header[0] >> 4, usize::from(header[0] & 0x0f) * 4);
    let total = usize::from(be16(header, 2));
    let fragmented = be16(header, 6) & 0x3fff != 0;
    if version != 4 || ihl < 20 || fragmented || header[9] != 6 || total > ip.len() {
        return None;
    }
    let tcp = ip.get(ihl..total)?;
    let tcp_len = usize::from(*tcp.get(12)? >> 4) * 4;
    if tcp_len < 20 || tcp_len > tcp.len() {
        return None;
    }
    let addr = |at: usize| {
        let b: [u8; 4] = header.get(at..at + 4)?.try_into().ok()?;
        Some(IpAddr::from(b))
    };
    Some(Segment {
        at: record.at,
        frame: record.frame,
        file: record.file,
        src: SocketAddr::new(addr(12)?, be16(tcp, 0)),
        dst: SocketAddr::new(addr(16)?, be16(tcp, 2)),
        seq: u32_at(tcp, 4, true),
        ack: u32_at(tcp, 8, true),
        flags: TcpFlags(tcp[13]),
        window: be16(tcp, 14),
        payload: tcp.get(tcp_len..)?,
        missing: 0,
    })
}

/// [`parse_record`] for any record, through etherparse.
pub(super) fn parse_record_general<'a>(record: &Record<'a>) -> Parsed<'a> {
    let Some(ip) = ip_packet(record.link_type, record.data) else {
        if !is_supported_link_type(record.link_type) {
            return Parsed::Notice(record_notice(
                record,
                NoticeKind::UnsupportedLinkType,
                format!("link type {} is not decoded", record.link_type),
            ));
        }
        return Parsed::Other;
    };
    let (slice, _ext_error) = match LaxIpSlice::from_slice(ip) {
        Ok(s) => s,
        Err(e) => {
            return Parsed::Notice(record_notice(
                record,
                NoticeKind::Malformed,
                format!("frame {}: unreadable IP header: {e}", record.frame),
            ));
        }
    };
    let payload = slice.payload();
    if payload.ip_number != IpNumber::TCP {
        return Parsed::Other;
    }
    let (src_ip, dst_ip) = (slice.source_addr(), slice.destination_addr());
    if payload.fragmented {
        return Parsed::Notice(fragment_notice(record, &slice, src_ip, dst_ip));
    }
    let tcp = match TcpHeaderSlice::from_slice(payload.payload) {
        Ok(t) => t,
        Err(e) => {
            return Parsed::Notice(record_notice(
                record,
                NoticeKind::Malformed,
                format!(
                    "frame {}: TCP header from {src_ip} to {dst_ip} unreadable: {e}",
                    record.frame
                ),
            ));
        }
    };
    let data = payload.payload.get(tcp.slice().len()..).unwrap_or(&[]);
    let missing = if payload.incomplete {
        // The IP length says how long the packet was on the wire.
        let wire_len = match &slice {
            LaxIpSlice::Ipv4(v4) => usize::from(v4.header().total_len()),
            LaxIpSlice::Ipv6(v6) => 40 + usize::from(v6.header().payload_length()),
        };
        let offset = (data.as_ptr() as usize).saturating_sub(ip.as_ptr() as usize);
        wire_len.saturating_sub(offset + data.len())
    } else if payload.len_source == LenSource::Slice {
        // No usable IP length (0 with offload, or jumbo): trust the record header.
        (record.orig_len as usize).saturating_sub(record.data.len())
    } else {
        0
    };
    let flags = tcp.slice().get(13).copied().unwrap_or(0);
    Parsed::Tcp(Segment {
        at: record.at,
        frame: record.frame,
        file: record.file,
        src: SocketAddr::new(src_ip, tcp.source_port()),
        dst: SocketAddr::new(dst_ip, tcp.destination_port()),
        seq: tcp.sequence_number(),
        ack: tcp.acknowledgment_number(),
        flags: TcpFlags(flags),
        window: tcp.window_size(),
        payload: data,
        missing: u32::try_from(missing).unwrap_or(u32::MAX),
    })
}

fn record_notice(record: &Record<'_>, kind: NoticeKind, detail: String) -> Notice {
    Notice {
        kind,
        file: record.file,
        frame: Some(record.frame),
        at: Some(record.at),
        detail,
    }
}

fn fragment_notice(
    record: &Record<'_>,
    slice: &LaxIpSlice<'_>,
    src: IpAddr,
    dst: IpAddr,
) -> Notice {
    let detail = match slice {
        LaxIpSlice::Ipv4(v4) => {
            let h = v4.header();
            format!(
                "frame {}: IPv4 fragment of a TCP packet from {src} to {dst} (id {}, offset \
                 {} bytes, more fragments: {}): not reassembled, its bytes are missing from \
                 the stream",
                record.frame,
                h.identification(),
                u32::from(h.fragments_offset().value()) * 8,
                h.more_fragments()
            )
        }
        LaxIpSlice::Ipv6(_) => format!(
            "frame {}: IPv6 fragment of a TCP packet from {src} to {dst}: not reassembled, \
             its bytes are missing from the stream",
            record.frame
        ),
    };
    record_notice(record, NoticeKind::IpFragment, detail)
}
