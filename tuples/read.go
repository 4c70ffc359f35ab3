package tuples

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime/debug"
)

// ReadOptions page through ReadRelationships.
type ReadOptions struct {
	// Revision to read at; 0 reads at the head. A cursor carries its own.
	Revision Revision
	// Limit is the most relationships returned (0: all).
	Limit int
	// Cursor continues a previous read (from ReadResult.Cursor).
	Cursor string
}

// ReadResult is one page of ReadRelationships.
type ReadResult struct {
	Relationships []Relationship
	Revision      Revision
	// Cursor continues the read after the last relationship returned; it is
	// "" when the read reached the end.
	Cursor string
}

// ErrBadCursor is wrapped by errors about cursors.
var ErrBadCursor = errors.New("invalid cursor")

const cursorVersion = 1

func encodeCursor(rev Revision, key []byte) string {
	b := []byte{cursorVersion}
	b = binary.AppendUvarint(b, uint64(rev))
	return base64.RawURLEncoding.EncodeToString(append(b, key...))
}

func decodeCursor(c string) (Revision, []byte, error) {
	b, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || len(b) < 3 || b[0] != cursorVersion {
		return 0, nil, fmt.Errorf("%w %q", ErrBadCursor, c)
	}
	rev, n := binary.Uvarint(b[1:])
	if n <= 0 || len(b) == 1+n {
		return 0, nil, fmt.Errorf("%w %q", ErrBadCursor, c)
	}
	return Revision(rev), b[1+n:], nil
}

// ReadRelationships returns the live relationships matching f at one
// revision, a page at a time: pass the returned Cursor back in opts to
// continue (at the same revision).
func (s *Store) ReadRelationships(ctx context.Context, f Filter, opts ReadOptions) (_ ReadResult, err error) {
	if !s.enter(&s.rg) {
		return ReadResult{}, ErrClosed
	}
	defer s.leave(&s.rg)
	var g readGuard
	defer g.recover(&err)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	rev := opts.Revision
	var after []byte
	if opts.Cursor != "" {
		var err error
		if rev, after, err = decodeCursor(opts.Cursor); err != nil {
			return ReadResult{}, err
		}
	} else if rev == 0 {
		head, err := s.headRev()
		if err != nil {
			return ReadResult{}, err
		}
		rev = head
	}
	sn, err := s.snapshot(rev)
	if err != nil {
		return ReadResult{}, err
	}
	defer sn.Close()
	res := ReadResult{Revision: rev}
	err = scanFilter(sn.txn, sn.names, f, sn.now, after, func(key []byte, r Relationship) (bool, error) {
		if err := ctx.Err(); err != nil {
			return false, err
		}
		if s.rg.shut.Load() {
			return false, ErrClosed // the store is closing: it waits for this read
		}
		if opts.Limit > 0 && len(res.Relationships) == opts.Limit {
			res.Cursor = encodeCursor(rev, after)
			return false, nil
		}
		res.Relationships = append(res.Relationships, r)
		after = key
		return true, nil
	})
	if err != nil {
		return ReadResult{}, err
	}
	return res, nil
}

// ForEach calls fn with every live relationship matching f at rev (0: the
// head), in key order, until fn returns false or an error. It returns the
// revision read.
func (s *Store) ForEach(ctx context.Context, rev Revision, f Filter, fn func(Relationship) (bool, error)) (_ Revision, err error) {
	if !s.enter(&s.rg) {
		return 0, ErrClosed
	}
	defer s.leave(&s.rg)
	var g readGuard
	defer g.recover(&err)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	if rev == 0 {
		head, err := s.headRev()
		if err != nil {
			return 0, err
		}
		rev = head
	}
	sn, err := s.snapshot(rev)
	if err != nil {
		return 0, err
	}
	defer sn.Close()
	n := 0
	return rev, scanFilter(sn.txn, sn.names, f, sn.now, nil, func(_ []byte, r Relationship) (bool, error) {
		n++
		if s.rg.shut.Load() {
			return false, ErrClosed // the store is closing: it waits for this read
		}
		if n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return false, err
			}
		}
		g.inCallback = true
		more, err := fn(r)
		g.inCallback = false
		return more, err
	})
}
