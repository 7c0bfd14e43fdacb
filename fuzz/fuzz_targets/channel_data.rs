//! Fuzzes ChannelData decoding and the stream decoder: decoding never panics, whatever decodes
//! re-encodes to the same bytes, and splitting the input arbitrarily yields the same frames as
//! feeding it whole.
#![no_main]

use floe_turn::channel_data::{self, ChannelData};
use floe_turn::{StreamDecoder, StreamFrame};
use libfuzzer_sys::fuzz_target;

fn frames(decoder: &mut StreamDecoder, out: &mut Vec<Result<(bool, u16, Vec<u8>), ()>>) {
    for _ in 0..100_000 {
        match decoder.next_frame() {
            None => return,
            Some(Ok(StreamFrame::Stun(m))) => out.push(Ok((true, 0, m.to_vec()))),
            Some(Ok(StreamFrame::ChannelData(cd))) => {
                out.push(Ok((false, cd.channel, cd.data.to_vec())))
            }
            Some(Err(_)) => {
                out.push(Err(()));
                return;
            }
        }
    }
    panic!("decoder does not settle");
}

fuzz_target!(|input: (u8, &[u8])| {
    let (split, data) = input;
    if let Ok(cd) = ChannelData::decode(data) {
        assert!(channel_data::is_channel_number(cd.channel));
        let mut out = vec![0u8; cd.encoded_len(true)];
        let n = cd.encode(false, &mut out).unwrap();
        assert_eq!(&out[..n], &data[..n]);
        let n = cd.encode(true, &mut out).unwrap();
        assert_eq!(n % 4, 0);
    }
    let mut whole = StreamDecoder::new();
    whole.push(data);
    let mut a = Vec::new();
    frames(&mut whole, &mut a);
    let mut pieces = StreamDecoder::new();
    let step = usize::from(split.max(1));
    let mut b = Vec::new();
    for chunk in data.chunks(step) {
        pieces.push(chunk);
        frames(&mut pieces, &mut b);
        if b.last().is_some_and(|r| r.is_err()) {
            break;
        }
    }
    assert_eq!(a, b);
});
