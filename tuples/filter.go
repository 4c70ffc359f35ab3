package tuples

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Filter selects relationships, as SpiceDB's RelationshipFilter does. Every
// field left empty matches anything.
type Filter struct {
	ResourceType     string
	ResourceID       string // exact id
	ResourceIDPrefix string // id prefix (not with ResourceID)
	Relation         string
	Subject          *SubjectFilter
}

// SubjectFilter selects subjects.
type SubjectFilter struct {
	Type     string
	ID       string // "" for any id; "*" for the wildcard
	Relation string // "" for any subject relation; Ellipsis ("...") for none
}

// IsEmpty reports whether f matches every relationship.
func (f Filter) IsEmpty() bool {
	return f.ResourceType == "" && f.ResourceID == "" && f.ResourceIDPrefix == "" && f.Relation == "" && f.Subject == nil
}

// Matches reports whether r is selected by f.
func (f Filter) Matches(r Relationship) bool {
	if f.ResourceType != "" && r.ResourceType != f.ResourceType {
		return false
	}
	if f.ResourceID != "" && r.ResourceID != f.ResourceID {
		return false
	}
	if f.ResourceIDPrefix != "" && !strings.HasPrefix(r.ResourceID, f.ResourceIDPrefix) {
		return false
	}
	if f.Relation != "" && r.Relation != f.Relation {
		return false
	}
	if sf := f.Subject; sf != nil {
		if sf.Type != "" && r.SubjectType != sf.Type {
			return false
		}
		if sf.ID != "" && r.SubjectID != sf.ID {
			return false
		}
		switch sf.Relation {
		case "":
		case Ellipsis:
			if r.SubjectRelation != "" {
				return false
			}
		default:
			if r.SubjectRelation != sf.Relation {
				return false
			}
		}
	}
	return true
}

// String prints f for messages.
func (f Filter) String() string {
	var parts []string
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	add("resource_type", f.ResourceType)
	add("resource_id", f.ResourceID)
	add("resource_id_prefix", f.ResourceIDPrefix)
	add("relation", f.Relation)
	if f.Subject != nil {
		add("subject_type", f.Subject.Type)
		add("subject_id", f.Subject.ID)
		add("subject_relation", f.Subject.Relation)
	}
	if len(parts) == 0 {
		return "{all}"
	}
	return "{" + strings.Join(parts, " ") + "}"
}

// ParseFilter reads a filter in the CLI's form, which mirrors the string
// form of a relationship with parts left out:
//
//	RESOURCE_TYPE[:ID | :PREFIX*][#RELATION][@SUBJECT_TYPE[:SUBJECT_ID][#SUBJECT_RELATION]]
//	@SUBJECT_TYPE[:SUBJECT_ID][#SUBJECT_RELATION]
//
// A part left out matches anything; an id ending in `*` is a prefix
// (`document:q*`, or `document:*` for any id); a subject id `*` is the
// wildcard subject itself (`@user:*`); the subject relation `...` means
// plain subjects only. Examples: `document`, `document:q3`,
// `document:q*#viewer`, `document#viewer@user:ana`, `@group:eng#member` (any
// resource). Errors are *ParseError values with the column of the fault.
func ParseFilter(s string) (Filter, error) {
	var f Filter
	fail := func(col int, part, format string, args ...any) (Filter, error) {
		return Filter{}, &ParseError{Input: s, Column: col + 1, Part: part, Msg: fmt.Sprintf(format, args...), filter: true}
	}
	res, subj, hasSubj := strings.Cut(s, "@")
	subjAt := len(res) + 1
	if res != "" || !hasSubj {
		rest, rel, hasRel := strings.Cut(res, "#")
		typ, id, hasID := strings.Cut(rest, ":")
		if msg := checkTypeName(typ); msg != "" {
			return fail(0, "resource type", "%s", msg)
		}
		f.ResourceType = typ
		if hasID {
			idAt := len(typ) + 1
			if p, ok := strings.CutSuffix(id, "*"); ok {
				if p != "" {
					if col, msg := checkID(p, false); msg != "" {
						return fail(idAt+col, "resource id prefix", "%s", msg)
					}
				}
				f.ResourceIDPrefix = p
			} else {
				if col, msg := checkID(id, false); msg != "" {
					return fail(idAt+col, "resource id", "%s", msg)
				}
				f.ResourceID = id
			}
		}
		if hasRel {
			if msg := checkRelationName(rel); msg != "" {
				return fail(len(rest)+1, "relation", "%s", msg)
			}
			f.Relation = rel
		}
	}
	if hasSubj {
		sf := &SubjectFilter{}
		rest, rel, hasRel := strings.Cut(subj, "#")
		typ, id, hasID := strings.Cut(rest, ":")
		if msg := checkTypeName(typ); msg != "" {
			return fail(subjAt, "subject type", "%s", msg)
		}
		sf.Type = typ
		if hasID {
			if col, msg := checkID(id, true); msg != "" {
				return fail(subjAt+len(typ)+1+col, "subject id", "%s", msg)
			}
			sf.ID = id
		}
		if hasRel {
			if rel != Ellipsis {
				if msg := checkRelationName(rel); msg != "" {
					return fail(subjAt+len(rest)+1, "subject relation", "%s", msg)
				}
				if sf.ID == "*" {
					return fail(subjAt+len(rest)+1, "subject relation", "a wildcard subject cannot have a subject relation")
				}
			}
			sf.Relation = rel
		}
		f.Subject = sf
	}
	return f, nil
}

// scanPlan is how a filter is read: the index, the key prefix to scan, and
// whether every key under the prefix already matches (no decoding needed to
// filter).
type scanPlan struct {
	prefix  []byte
	reverse bool
	none    bool // a name in the filter was never written: nothing matches
	// skip, when not nil, says that the filter names a resource id (or id
	// prefix) but no relation: under prefix (the resource type's), the
	// keys wanted are those of each relation followed by skip, and the
	// scan jumps from relation to relation instead of reading every
	// relationship of the type ("delete everything of document:x").
	skip []byte
}

func planScan(n *names, f Filter) scanPlan {
	id := func(name string) (uint64, bool) { return n.id(name) }
	if f.ResourceType != "" {
		p := []byte{spaceForward}
		t, ok := id(f.ResourceType)
		if !ok {
			return scanPlan{none: true}
		}
		p = binary.AppendUvarint(p, t)
		if f.Relation == "" {
			switch {
			case f.ResourceIDPrefix != "":
				return scanPlan{prefix: p, skip: []byte(f.ResourceIDPrefix)}
			case f.ResourceID != "":
				return scanPlan{prefix: p, skip: append([]byte(f.ResourceID), 0)}
			}
			return scanPlan{prefix: p}
		}
		r, ok := id(f.Relation)
		if !ok {
			return scanPlan{none: true}
		}
		p = binary.AppendUvarint(p, r)
		switch {
		case f.ResourceIDPrefix != "":
			return scanPlan{prefix: append(p, f.ResourceIDPrefix...)}
		case f.ResourceID == "":
			return scanPlan{prefix: p}
		}
		p = append(append(p, f.ResourceID...), 0)
		sf := f.Subject
		if sf == nil || sf.Type == "" || sf.Relation == "" {
			return scanPlan{prefix: p}
		}
		st, ok := id(sf.Type)
		if !ok {
			return scanPlan{none: true}
		}
		srel := sf.Relation
		if srel == Ellipsis {
			srel = ""
		}
		sr, ok := id(srel)
		if !ok {
			return scanPlan{none: true}
		}
		p = binary.AppendUvarint(p, st)
		p = binary.AppendUvarint(p, sr)
		return scanPlan{prefix: p}
	}
	if sf := f.Subject; sf != nil && sf.Type != "" {
		p := []byte{spaceReverse}
		st, ok := id(sf.Type)
		if !ok {
			return scanPlan{none: true}
		}
		p = binary.AppendUvarint(p, st)
		if sf.Relation == "" {
			return scanPlan{prefix: p, reverse: true}
		}
		srel := sf.Relation
		if srel == Ellipsis {
			srel = ""
		}
		sr, ok := id(srel)
		if !ok {
			return scanPlan{none: true}
		}
		return scanPlan{prefix: binary.AppendUvarint(p, sr), reverse: true}
	}
	return scanPlan{prefix: []byte{spaceForward}}
}

// scanFilter calls fn with the key and relationship of every live
// relationship matching f, in key order, starting after the key `after`
// (when not nil), until fn returns false.
func scanFilter(txn *badger.Txn, n *names, f Filter, now time.Time, after []byte, fn func(key []byte, r Relationship) (bool, error)) error {
	plan := planScan(n, f)
	if plan.none {
		return nil
	}
	if after != nil && !bytes.HasPrefix(after, plan.prefix) {
		return fmt.Errorf("%w: it continues a read of another filter", ErrBadCursor)
	}
	it := txn.NewIterator(badger.IteratorOptions{Prefix: plan.prefix, PrefetchValues: false})
	defer it.Close()
	if after != nil {
		it.Seek(append(append([]byte{}, after...), 0))
	} else {
		it.Rewind()
	}
	var want []byte // plan.skip: the keys of the relation at hand wanted
	for it.Valid() {
		item := it.Item()
		k := item.Key()
		if plan.skip != nil {
			// k is in relation rel: seek to rel's keys with the id wanted,
			// or past rel once they are behind.
			_, m := binary.Uvarint(k[len(plan.prefix):])
			if m <= 0 {
				return fmt.Errorf("%w: a key of the forward index has no relation", ErrCorrupt)
			}
			rel := k[:len(plan.prefix)+m]
			want = append(append(want[:0], rel...), plan.skip...)
			if !bytes.HasPrefix(k, want) {
				if bytes.Compare(k, want) < 0 {
					it.Seek(want)
				} else if next := prefixEnd(rel); next != nil {
					it.Seek(next)
				} else {
					break
				}
				continue
			}
		}
		var d decodedKey
		var err error
		if plan.reverse {
			d, err = decodeReverse(k)
		} else {
			d, err = decodeForward(k)
		}
		if err != nil {
			return err
		}
		r, err := n.relationship(d)
		if err != nil {
			return err
		}
		if !f.Matches(r) {
			it.Next()
			continue
		}
		if item.UserMeta()&metaHasValue != 0 {
			expired := false
			err := itemValue(item, func(v []byte) error {
				if expiredAt(v, now) {
					expired = true
					return nil
				}
				return decodeValue(v, &r)
			})
			if err != nil {
				return readErr(err)
			}
			if expired {
				it.Next()
				continue
			}
		}
		more, err := fn(item.KeyCopy(nil), r)
		if err != nil || !more {
			return err
		}
		it.Next()
	}
	return nil
}

// prefixEnd returns the first key after every key that starts with p, or
// nil if there is none (p is all 0xff).
func prefixEnd(p []byte) []byte {
	end := append([]byte{}, p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}
