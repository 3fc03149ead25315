package journal

// This file is the record format: its constants, encoding and header
// check. The layout is in the package documentation.

import (
	"encoding/binary"
	"hash/crc32"
)

const (
	journalMagic = "TDJ1"

	recMsg   byte = 1
	recState byte = 2
	recDone  byte = 3

	recHdrSize  = 52
	recIDSize   = 32
	recLenOff   = 40
	recCRCOff   = 48
	recFlagBig  = 1
	msgMetaSize = 4  // envelope JSON length in a MSG payload
	donePayload = 16 // segment range in a DONE payload

	// DefaultSegmentSize is the size at which a journal segment is rotated.
	DefaultSegmentSize = 64 << 20
	// DefaultBigMessageThreshold is the message size above which the body
	// goes to its own file instead of the journal.
	DefaultBigMessageThreshold = 256 << 10

	// compactBelow: a segment whose live bytes are under 1/compactBelow of
	// its size is copied forward at rotation.
	compactBelow = 4
	// writeChunk bounds the committer's write buffer.
	writeChunk = 4 << 20
)

// parseHeader checks a record header; bad is empty when it is sound.
func parseHeader(h []byte) (id string, typ byte, flags uint16, n int64, bad string) {
	if string(h[:4]) != journalMagic {
		return "", 0, 0, 0, "bad magic"
	}
	typ = h[4]
	if typ < recMsg || typ > recDone {
		return "", 0, 0, 0, "bad record type"
	}
	l := int(h[5])
	if l == 0 || l > recIDSize {
		return "", 0, 0, 0, "bad id length"
	}
	n64 := binary.LittleEndian.Uint64(h[recLenOff:])
	if n64 > 1<<40 {
		return "", 0, 0, 0, "bad payload length"
	}
	return string(h[8 : 8+l]), typ, binary.LittleEndian.Uint16(h[6:]), int64(n64), ""
}

// validID accepts ids that fit the record header and are safe file names.
func validID(id string) bool {
	if id == "" || len(id) > recIDSize {
		return false
	}
	for _, c := range []byte(id) {
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// encodeRecord lays out a record: header, then the payload parts.
func (j *Journal) encodeRecord(typ byte, flags uint16, id string, parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	rec := make([]byte, recHdrSize+n)
	off := recHdrSize
	for _, p := range parts {
		off += copy(rec[off:], p)
	}
	j.sealRecord(rec, typ, flags, id)
	return rec
}

// sealRecord writes the header of rec, whose payload is already in place
// after the first recHdrSize bytes, including the CRC.
func (j *Journal) sealRecord(rec []byte, typ byte, flags uint16, id string) {
	clear(rec[:recHdrSize])
	copy(rec, journalMagic)
	rec[4] = typ
	rec[5] = byte(len(id))
	binary.LittleEndian.PutUint16(rec[6:], flags)
	copy(rec[8:8+recIDSize], id)
	binary.LittleEndian.PutUint64(rec[recLenOff:], uint64(len(rec)-recHdrSize))
	crc := crc32.Update(crc32.Checksum(rec[:recCRCOff], j.castagnoli), j.castagnoli, rec[recHdrSize:])
	binary.LittleEndian.PutUint32(rec[recCRCOff:], crc)
}

// Enqueue stores the message and returns its queue id once its record is
