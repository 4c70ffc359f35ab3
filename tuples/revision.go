package tuples

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
)

// Revision identifies one committed state of the store. Every committed batch
// of writes (and every schema write) gets the next revision; a read is a
// snapshot at one revision. Revision 0 is the empty store.
type Revision uint64

// tokenVersion is the first byte of every token, so that the format can change.
const tokenVersion = 1

// Token returns the opaque consistency token (a "zookie") for r.
func (r Revision) Token() string {
	var b [1 + binary.MaxVarintLen64]byte
	b[0] = tokenVersion
	n := binary.PutUvarint(b[1:], uint64(r))
	return base64.RawURLEncoding.EncodeToString(b[:1+n])
}

// ErrBadToken is wrapped by ParseToken's errors.
var ErrBadToken = errors.New("invalid consistency token")

// ParseToken reads a token made by Revision.Token.
func ParseToken(tok string) (Revision, error) {
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil || len(b) < 2 || b[0] != tokenVersion {
		return 0, fmt.Errorf("%w %q", ErrBadToken, tok)
	}
	v, n := binary.Uvarint(b[1:])
	if n <= 0 || 1+n != len(b) {
		return 0, fmt.Errorf("%w %q", ErrBadToken, tok)
	}
	return Revision(v), nil
}
