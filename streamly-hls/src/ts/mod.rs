//! MPEG-2 transport stream writing (ISO/IEC 13818-1).

mod crc;
mod muxer;
mod packet;
mod psi;

pub(crate) use muxer::adts_header;
pub use muxer::{PTS_OFFSET_90K, TsMuxer, ms_to_90k};
pub use packet::{SYNC_BYTE, TS_PACKET_SIZE};
pub use psi::{AUDIO_PID, PAT_PID, PMT_PID, STREAM_TYPE_AAC_ADTS, STREAM_TYPE_H264, VIDEO_PID};
