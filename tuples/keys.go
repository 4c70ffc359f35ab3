package tuples

import (
	"bytes"
	"encoding/binary"
	"sync"
	"sync/atomic"
)

// Key layout (every key starts with a one-byte space tag):
//
//	forward  'f' N(resType) N(relation) resID 0x00 N(subjType) N(subjRel) subjID
//	reverse  'r' N(subjType) N(subjRel) N(resType) N(relation) subjID 0x00 resID
//	name     'n' name                            -> uvarint id
//	schema   's'                                 -> uvarint len(filename) filename source
//	head     'h'                                 -> 8-byte revision
//	time     't' 8-byte revision                 -> 8-byte unix nanoseconds of the commit
//	changes  'c' 8-byte revision                 -> the batch's changes (see changelog.go)
//
// N(x) is the uvarint id of the name x (types and relations are interned: a
// name's id is assigned when first written and never changes; the empty
// subject relation is id 0). Object ids are written as they are, ended by 0x00
// where another component follows; ids never contain 0x00, so a prefix of an
// id is a prefix of the key and keys sort by id within a relation.
//
// So a direct check is one Get of a forward key; "the subjects group#member
// of document:1#viewer" is one prefix scan of the forward index; "the
// documents whose viewer is group:eng#member" is one prefix scan of the
// reverse index; and "does any relationship use document#viewer (or subject
// type user on it)" is one seek, which is what schema orphan checks need.
const (
	spaceForward = 'f'
	spaceReverse = 'r'
	spaceName    = 'n'
	spaceSchema  = 's'
	spaceHead    = 'h'
	spaceTime    = 't'
	spaceChanges = 'c'
)

// nameTable interns type and relation names. Lookups are lock-free (an
// immutable snapshot behind an atomic pointer); the writer, which holds the
// store's write lock, adds names in a pending copy and publishes it after its
// batch commits.
type nameTable struct {
	cur atomic.Pointer[names]
	mu  sync.Mutex // serialises publish
}

type names struct {
	ids   map[string]uint64
	byID  []string // byID[id]; byID[0] = ""
	limit uint64   // next id to assign
}

func newNameTable() *nameTable {
	t := &nameTable{}
	t.cur.Store(&names{ids: map[string]uint64{"": 0}, byID: []string{""}, limit: 1})
	return t
}

func (t *nameTable) load() *names { return t.cur.Load() }

// id returns the id of name, or false if the name was never written (so no
// key mentions it).
func (n *names) id(name string) (uint64, bool) {
	id, ok := n.ids[name]
	return id, ok
}

func (n *names) name(id uint64) (string, bool) {
	if id >= uint64(len(n.byID)) {
		return "", false
	}
	return n.byID[id], true
}

// nameAssigner hands out ids for a batch being written.
type nameAssigner struct {
	base  *names
	added map[string]uint64
	next  uint64
}

func (t *nameTable) assigner() *nameAssigner {
	b := t.load()
	return &nameAssigner{base: b, next: b.limit}
}

func (a *nameAssigner) id(name string) uint64 {
	if id, ok := a.base.ids[name]; ok {
		return id
	}
	if id, ok := a.added[name]; ok {
		return id
	}
	if a.added == nil {
		a.added = map[string]uint64{}
	}
	id := a.next
	a.next++
	a.added[name] = id
	return id
}

// publish makes the names of a committed batch visible.
func (t *nameTable) publish(a *nameAssigner) {
	if len(a.added) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.load()
	n := &names{ids: make(map[string]uint64, len(old.ids)+len(a.added)), byID: make([]string, a.next), limit: a.next}
	for k, v := range old.ids {
		n.ids[k] = v
	}
	copy(n.byID, old.byID)
	for k, v := range a.added {
		n.ids[k] = v
		n.byID[v] = k
	}
	t.cur.Store(n)
}

// restore adds a name read from the store at open.
func (n *names) restore(name string, id uint64) {
	n.ids[name] = id
	for uint64(len(n.byID)) <= id {
		n.byID = append(n.byID, "")
	}
	n.byID[id] = name
	if id >= n.limit {
		n.limit = id + 1
	}
}

func nameKey(name string) []byte { return append([]byte{spaceName}, name...) }

// ids is a relationship's names as ids.
type relIDs struct {
	resType, rel, subjType, subjRel uint64
}

func forwardKey(buf []byte, ids relIDs, resID, subjID string) []byte {
	buf = append(buf, spaceForward)
	buf = binary.AppendUvarint(buf, ids.resType)
	buf = binary.AppendUvarint(buf, ids.rel)
	buf = append(buf, resID...)
	buf = append(buf, 0)
	buf = binary.AppendUvarint(buf, ids.subjType)
	buf = binary.AppendUvarint(buf, ids.subjRel)
	return append(buf, subjID...)
}

func reverseKey(buf []byte, ids relIDs, resID, subjID string) []byte {
	buf = append(buf, spaceReverse)
	buf = binary.AppendUvarint(buf, ids.subjType)
	buf = binary.AppendUvarint(buf, ids.subjRel)
	buf = binary.AppendUvarint(buf, ids.resType)
	buf = binary.AppendUvarint(buf, ids.rel)
	buf = append(buf, subjID...)
	buf = append(buf, 0)
	return append(buf, resID...)
}

// decodedKey is a forward or reverse key taken apart.
type decodedKey struct {
	ids           relIDs
	resID, subjID string
}

func readUvarint(b []byte) (uint64, []byte, error) {
	v, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, nil, corruptf("", "bad key: bad name id")
	}
	return v, b[n:], nil
}

func readTerminated(b []byte) (string, []byte, error) {
	i := bytes.IndexByte(b, 0)
	if i < 0 {
		return "", nil, corruptf("", "bad key: unterminated id")
	}
	return string(b[:i]), b[i+1:], nil
}

func decodeForward(k []byte) (d decodedKey, err error) {
	if len(k) == 0 || k[0] != spaceForward {
		return d, corruptf("", "bad key: not a forward key")
	}
	b := k[1:]
	if d.ids.resType, b, err = readUvarint(b); err != nil {
		return
	}
	if d.ids.rel, b, err = readUvarint(b); err != nil {
		return
	}
	if d.resID, b, err = readTerminated(b); err != nil {
		return
	}
	if d.ids.subjType, b, err = readUvarint(b); err != nil {
		return
	}
	if d.ids.subjRel, b, err = readUvarint(b); err != nil {
		return
	}
	d.subjID = string(b)
	return d, nil
}

func decodeReverse(k []byte) (d decodedKey, err error) {
	if len(k) == 0 || k[0] != spaceReverse {
		return d, corruptf("", "bad key: not a reverse key")
	}
	b := k[1:]
	if d.ids.subjType, b, err = readUvarint(b); err != nil {
		return
	}
	if d.ids.subjRel, b, err = readUvarint(b); err != nil {
		return
	}
	if d.ids.resType, b, err = readUvarint(b); err != nil {
		return
	}
	if d.ids.rel, b, err = readUvarint(b); err != nil {
		return
	}
	if d.subjID, b, err = readTerminated(b); err != nil {
		return
	}
	d.resID = string(b)
	return d, nil
}

// relationship turns a decoded key back into names.
func (n *names) relationship(d decodedKey) (Relationship, error) {
	var r Relationship
	var ok1, ok2, ok3, ok4 bool
	r.ResourceType, ok1 = n.name(d.ids.resType)
	r.Relation, ok2 = n.name(d.ids.rel)
	r.SubjectType, ok3 = n.name(d.ids.subjType)
	r.SubjectRelation, ok4 = n.name(d.ids.subjRel)
	if !ok1 || !ok2 || !ok3 || !ok4 {
		return r, corruptf("", "bad key: unknown name id")
	}
	r.ResourceID, r.SubjectID = d.resID, d.subjID
	return r, nil
}

func revKey(space byte, rev Revision) []byte {
	k := make([]byte, 9)
	k[0] = space
	binary.BigEndian.PutUint64(k[1:], uint64(rev))
	return k
}
