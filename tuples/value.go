package tuples

import (
	"encoding/binary"
	"encoding/json"
	"time"
)

// A relationship's value holds its caveat and expiration; it is empty for a
// plain relationship, which is then recognised from the entry's user meta
// byte without reading the value at all.
//
//	flags byte (1 = caveat, 2 = expiration)
//	[expiration: 8-byte big-endian unix seconds, 4-byte nanoseconds]
//	[caveat: uvarint len(name) name, JSON context (may be empty)]
const (
	metaPlain    byte = 0
	metaHasValue byte = 1

	flagCaveat     byte = 1
	flagExpiration byte = 2
)

func encodeValue(r *Relationship) []byte {
	if r.Caveat == nil && r.Expiration == nil {
		return nil
	}
	var flags byte
	buf := []byte{0}
	if r.Expiration != nil {
		flags |= flagExpiration
		buf = binary.BigEndian.AppendUint64(buf, uint64(r.Expiration.Unix()))
		buf = binary.BigEndian.AppendUint32(buf, uint32(r.Expiration.Nanosecond()))
	}
	if r.Caveat != nil {
		flags |= flagCaveat
		buf = binary.AppendUvarint(buf, uint64(len(r.Caveat.Name)))
		buf = append(buf, r.Caveat.Name...)
		if len(r.Caveat.Context) > 0 {
			buf = append(buf, marshalContext(r.Caveat.Context)...)
		}
	}
	buf[0] = flags
	return buf
}

// decodeValue fills r's caveat and expiration from v.
func decodeValue(v []byte, r *Relationship) error {
	if len(v) == 0 {
		return nil
	}
	flags, b := v[0], v[1:]
	if flags&flagExpiration != 0 {
		if len(b) < 12 {
			return corruptf("", "bad value: short expiration")
		}
		t := time.Unix(int64(binary.BigEndian.Uint64(b)), int64(binary.BigEndian.Uint32(b[8:]))).UTC()
		r.Expiration = &t
		b = b[12:]
	}
	if flags&flagCaveat != 0 {
		n, k := binary.Uvarint(b)
		if k <= 0 || uint64(len(b)-k) < n {
			return corruptf("", "bad value: bad caveat name")
		}
		c := &Caveat{Name: string(b[k : k+int(n)])}
		b = b[k+int(n):]
		if len(b) > 0 {
			if err := json.Unmarshal(b, &c.Context); err != nil {
				return corruptf("", "bad value: caveat context: %w", err)
			}
		}
		r.Caveat = c
	}
	return nil
}

// expiredAt reports whether a value's expiration is at or before now, reading
// only its first 13 bytes.
func expiredAt(v []byte, now time.Time) bool {
	if len(v) < 13 || v[0]&flagExpiration == 0 {
		return false
	}
	sec := int64(binary.BigEndian.Uint64(v[1:9]))
	if ns := now.Unix(); sec != ns {
		return sec < ns
	}
	return int64(binary.BigEndian.Uint32(v[9:13])) <= int64(now.Nanosecond())
}
