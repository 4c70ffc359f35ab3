package tuples

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"runtime/debug"
	"sort"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/reach-authz/reach/caveats"
	"github.com/reach-authz/reach/schema"
)

// The schema lives in the store under key 's', versioned with the data: the
// schema in force at revision R is the newest version of 's' at or before R.
// Compiled programs are cached by the revision that wrote them.

type schemaCache struct {
	mu    sync.Mutex
	revs  []Revision // revisions that wrote a schema, ascending
	progs map[Revision]*schema.Program
}

// schemaRevAt returns the revision of the schema in force at rev (0, false if none).
func (c *schemaCache) schemaRevAt(rev Revision) (Revision, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := sort.Search(len(c.revs), func(i int) bool { return c.revs[i] > rev })
	if i == 0 {
		return 0, false
	}
	return c.revs[i-1], true
}

func (c *schemaCache) add(rev Revision, p *schema.Program) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.progs == nil {
		c.progs = map[Revision]*schema.Program{}
	}
	if n := len(c.revs); n == 0 || c.revs[n-1] < rev {
		c.revs = append(c.revs, rev)
	}
	if p != nil {
		c.progs[rev] = p
	}
}

func (c *schemaCache) get(rev Revision) *schema.Program {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.progs[rev]
}

func encodeSchema(filename string, src []byte) []byte {
	v := binary.AppendUvarint(nil, uint64(len(filename)))
	v = append(v, filename...)
	return append(v, src...)
}

func decodeSchema(v []byte) (string, []byte, error) {
	n, k := binary.Uvarint(v)
	if k <= 0 || uint64(len(v)-k) < n {
		return "", nil, corruptf("", "bad schema entry")
	}
	return string(v[k : k+int(n)]), v[k+int(n):], nil
}

// loadSchemaVersions records the revisions of every stored schema version and
// compiles the newest. Called by Open.
func (s *Store) loadSchemaVersions() error {
	txn := s.db.NewTransactionAt(math.MaxUint64, false)
	defer txn.Discard()
	it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte{spaceSchema}, AllVersions: true})
	defer it.Close()
	var revs []Revision
	for it.Rewind(); it.Valid(); it.Next() {
		if len(it.Item().Key()) == 1 {
			revs = append(revs, Revision(it.Item().Version()))
		}
	}
	sort.Slice(revs, func(i, j int) bool { return revs[i] < revs[j] })
	for _, r := range revs {
		s.schemas.add(r, nil)
	}
	if len(revs) > 0 {
		_, err := s.programAt(revs[len(revs)-1])
		return err
	}
	return nil
}

// programAt returns the schema in force at rev (nil if none).
func (s *Store) programAt(rev Revision) (_ *schema.Program, err error) {
	var g readGuard
	defer g.recover(&err)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	srev, ok := s.schemas.schemaRevAt(rev)
	if !ok {
		return nil, nil
	}
	if p := s.schemas.get(srev); p != nil {
		return p, nil
	}
	if !s.enter(&s.rg) {
		return nil, ErrClosed
	}
	defer s.leave(&s.rg)
	db, done, err := s.acquire()
	if err != nil {
		return nil, err
	}
	defer done()
	txn := db.NewTransactionAt(uint64(srev), false)
	defer txn.Discard()
	item, err := txn.Get([]byte{spaceSchema})
	if err != nil {
		return nil, fmt.Errorf("read schema of revision %d: %w", srev, readErr(err))
	}
	v, err := itemValueCopy(item)
	if err != nil {
		return nil, fmt.Errorf("read schema of revision %d: %w", srev, readErr(err))
	}
	filename, src, err := decodeSchema(v)
	if err != nil {
		return nil, err
	}
	p, _, err := schema.Compile(filename, src)
	if err != nil {
		return nil, fmt.Errorf("stored schema of revision %d no longer compiles: %w", srev, err)
	}
	s.schemas.add(srev, p)
	return p, nil
}

// Schema returns the latest schema and the revision that wrote it; a nil
// Program (and no error) if none was written.
func (s *Store) Schema(ctx context.Context) (*schema.Program, Revision, error) {
	head, err := s.headRev()
	if err != nil {
		return nil, 0, err
	}
	srev, ok := s.schemas.schemaRevAt(head)
	if !ok {
		return nil, 0, nil
	}
	p, err := s.programAt(srev)
	return p, srev, err
}

// SchemaSource returns the latest schema as it was written: its file name and text.
func (s *Store) SchemaSource(ctx context.Context) (_ string, _ []byte, _ Revision, err error) {
	if !s.enter(&s.rg) {
		return "", nil, 0, ErrClosed
	}
	defer s.leave(&s.rg)
	var g readGuard
	defer g.recover(&err)
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	head, err := s.headRev()
	if err != nil {
		return "", nil, 0, err
	}
	srev, ok := s.schemas.schemaRevAt(head)
	if !ok {
		return "", nil, 0, nil
	}
	db, done, err := s.acquire()
	if err != nil {
		return "", nil, 0, err
	}
	defer done()
	txn := db.NewTransactionAt(uint64(srev), false)
	defer txn.Discard()
	item, err := txn.Get([]byte{spaceSchema})
	if err != nil {
		return "", nil, 0, readErr(err)
	}
	v, err := itemValueCopy(item)
	if err != nil {
		return "", nil, 0, readErr(err)
	}
	name, src, err := decodeSchema(v)
	return name, src, srev, err
}

// WriteSchema compiles src and, if it has no errors and orphans no stored
// relationship, stores it as the schema of the next revision. The
// diagnostics (warnings included) are returned in every case. A compile error
// is returned as Compile returned it (errors.As to *schema.ErrorList works); an
// orphaning change returns an error wrapping ErrOrphans that names one
// offending relationship, and the old schema stays in force.
func (s *Store) WriteSchema(ctx context.Context, filename string, src []byte) (Revision, []schema.Diagnostic, error) {
	prog, diags, err := schema.CompileContext(ctx, filename, src)
	if err != nil {
		return 0, diags, err
	}
	if errs := caveats.CheckProgram(prog, src); len(errs) > 0 {
		diags = append(diags, errs...)
		return 0, diags, errs
	}
	if err := ctx.Err(); err != nil {
		return 0, diags, err
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if err := s.writable(2*int64(len(src)) + 4096); err != nil {
		return 0, diags, err
	}
	head, err := s.headRev()
	if err != nil {
		return 0, diags, err
	}
	old, err := s.programAt(head)
	if err != nil {
		return 0, diags, err
	}
	txn := s.db.NewTransactionAt(uint64(head), true)
	defer txn.Discard()
	if old != nil {
		if err := s.checkOrphans(txn, old, prog); err != nil {
			return 0, diags, err
		}
	}
	rev := head + 1
	now := time.Now()
	if err := txn.Set([]byte{spaceSchema}, encodeSchema(filename, src)); err != nil {
		return 0, diags, err
	}
	if err := s.setRevisionRecords(txn, rev, now); err != nil {
		return 0, diags, err
	}
	if err := txn.CommitAt(uint64(rev), nil); err != nil {
		return 0, diags, fmt.Errorf("write schema: %w", err)
	}
	s.schemas.add(rev, prog)
	s.committed(rev, now)
	return rev, diags, nil
}

// setRevisionRecords writes the head and commit-time records of rev.
func (s *Store) setRevisionRecords(txn *badger.Txn, rev Revision, at time.Time) error {
	var h [8]byte
	binary.BigEndian.PutUint64(h[:], uint64(rev))
	if err := txn.Set([]byte{spaceHead}, h[:]); err != nil {
		return err
	}
	var tv [8]byte
	binary.BigEndian.PutUint64(tv[:], uint64(at.UnixNano()))
	e := badger.NewEntry(revKey(spaceTime, rev), tv[:]).WithTTL(s.opts.GCWindow + timeTTLMargin)
	return txn.SetEntry(e)
}

// checkOrphans refuses a new schema under which some stored relationship
// would no longer be allowed: its relation is gone (or became a permission),
// or its subject type (with its subject relation and wildcard-ness) is no
// longer allowed on the relation. Every stored relationship was allowed by
// the old schema, so it is enough to look, for each allowed subject type that
// disappears, for one relationship that uses it: one seek in the reverse index.
func (s *Store) checkOrphans(txn *badger.Txn, old, next *schema.Program) error {
	n := s.names.load()
	for _, def := range old.Definitions() {
		for _, rel := range def.Relations {
			if rel.Kind != schema.KindRelation {
				continue
			}
			nrel := next.Lookup(def.Name, rel.Name)
			if nrel != nil && nrel.Kind != schema.KindRelation {
				nrel = nil
			}
			for _, a := range rel.Allowed {
				if nrel != nil && nrel.Allows(a.Type, a.Relation, a.Wildcard) {
					continue
				}
				r, found, err := findUse(txn, n, def.Name, rel.Name, a)
				if err != nil {
					return err
				}
				if !found {
					continue
				}
				why := fmt.Sprintf("relation `%s#%s` is removed", def.Name, rel.Name)
				switch {
				case next.Definition(def.Name) == nil:
					why = fmt.Sprintf("definition `%s` is removed", def.Name)
				case nrel != nil:
					why = fmt.Sprintf("subject type `%s` is no longer allowed on `%s#%s`", allowedList([]schema.AllowedType{a}), def.Name, rel.Name)
				case next.Lookup(def.Name, rel.Name) != nil:
					why = fmt.Sprintf("relation `%s#%s` becomes a permission", def.Name, rel.Name)
				}
				return fmt.Errorf("%w: %s but relationship %s still uses it; delete such relationships first", ErrOrphans, why, r)
			}
		}
	}
	return nil
}

// findUse finds one stored relationship resType#relation@a.Type[:*][#a.Relation].
func findUse(txn *badger.Txn, n *names, resType, relation string, a schema.AllowedType) (Relationship, bool, error) {
	var ids relIDs
	var ok bool
	if ids.resType, ok = n.id(resType); !ok {
		return Relationship{}, false, nil
	}
	if ids.rel, ok = n.id(relation); !ok {
		return Relationship{}, false, nil
	}
	if ids.subjType, ok = n.id(a.Type); !ok {
		return Relationship{}, false, nil
	}
	if ids.subjRel, ok = n.id(a.Relation); !ok {
		return Relationship{}, false, nil
	}
	prefix := reversePrefix(ids)
	it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
	defer it.Close()
	star := append(append([]byte{}, prefix...), '*', 0)
	if a.Wildcard {
		it.Seek(star)
	} else {
		it.Rewind()
	}
	for ; it.Valid(); it.Next() {
		item := it.Item()
		k := item.Key()
		isStar := len(k) >= len(star) && string(k[:len(star)]) == string(star)
		if isStar != a.Wildcard {
			if a.Wildcard {
				return Relationship{}, false, nil
			}
			continue
		}
		d, err := decodeReverse(k)
		if err != nil {
			return Relationship{}, false, err
		}
		r, err := n.relationship(d)
		if err != nil {
			return Relationship{}, false, err
		}
		err = itemValue(item, func(v []byte) error { return decodeValue(v, &r) })
		return r, true, err
	}
	return Relationship{}, false, nil
}

// reversePrefix is the reverse-index prefix of every relationship
// resType#rel@subjType...#subjRel.
func reversePrefix(ids relIDs) []byte {
	b := []byte{spaceReverse}
	b = binary.AppendUvarint(b, ids.subjType)
	b = binary.AppendUvarint(b, ids.subjRel)
	b = binary.AppendUvarint(b, ids.resType)
	return binary.AppendUvarint(b, ids.rel)
}

var errStop = errors.New("stop")
