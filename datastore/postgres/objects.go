package postgres

import (
	"cmp"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/reach-authz/reach/schema"
	"github.com/reach-authz/reach/tuples"
)

// Reading an object's relations together. A check reads the relations of
// one object one at a time: document:d#view = viewer + owner + parent->view
// asks for d's owner, then its viewers, then its parents, each a round trip
// to the server, which costs far more than the few rows each returns. So
// the first read of a relation of an object through a snapshot also reads,
// in the same query, the other relations of that object that the schema
// says a check may read next (those the permissions that use the relation
// use on the same object, below), at most Options.PrefetchRows rows of
// each, and keeps them in the snapshot: the reads of them that follow are
// answered from memory. The rows are read at the snapshot's revision and
// time, as the reads they stand for would have been, so the answers are
// the same; a relation with more rows than were read is known only up to
// its last row read (in the forward index's order), and a read beyond it
// goes to the server, continuing after that row. Each snapshot keeps at
// most maxSnapshotRows rows; past that, reads go to the server one at a
// time as before.

// DefaultPrefetchRows is the default of Options.PrefetchRows.
const DefaultPrefetchRows = 64

// maxSnapshotRows bounds the rows one snapshot keeps (a check keeps a
// handful; a lookup that reads thousands of objects stops keeping them
// here: about 1 MiB).
const maxSnapshotRows = 4096

// relGroup says what else to read with a relation of an object.
type relGroup struct {
	// others are the other relations of the object's type that a
	// permission using this relation uses on the same object, sorted;
	// stats[i] counts how often others[i], read with this relation, was
	// then read.
	others []string
	stats  []prefetchStat
	// again says that the engine may read the relation itself more than
	// once (it allows subject sets or a wildcard: a check looks the
	// subject up, then its type's wildcard, then the subject sets), so
	// that a point lookup of it is worth reading whole.
	again bool
}

// prefetchStat learns whether a relation read with another is worth
// reading: the schema says that a check may read it next, not how often
// one does (the engine's group index, or the first branch of a union
// answering, spares many reads). A relation read along and then not
// asked for is rows and an index probe spent for nothing; one asked for
// is a round trip saved. So a relation is read along while at least one
// time in usefulShare it was asked for after, and is tried again one time
// in retryEvery otherwise, so that a change of the checks asked is seen.
type prefetchStat struct {
	read, used atomic.Int64
	skipped    atomic.Int64
}

const (
	usefulShare = 8
	retryEvery  = 32
	// learnFrom is how many reads along decide nothing yet; statDecay
	// halves the counts, so that they follow recent checks.
	learnFrom = 32
	statDecay = 4096
)

func (p *prefetchStat) worth() bool {
	read, used := p.read.Load(), p.used.Load()
	if read < learnFrom || used*usefulShare >= read {
		return true
	}
	return p.skipped.Add(1)%retryEvery == 0
}

func (p *prefetchStat) readAlong() {
	if n := p.read.Add(1); n >= statDecay {
		// Racy halving: the counts are estimates.
		p.read.Store(n / 2)
		p.used.Store(p.used.Load() / 2)
	}
}

// readPlan is the relGroup of every relation of a schema.
type readPlan map[typeRel]*relGroup

type typeRel struct{ typ, rel string }

// newReadPlan works out, for every relation of prog, the relations read
// with it: for each permission, the relations of its own object it reads
// (through computed usersets, recursively, and as the left side of
// arrows); a relation is grouped with every relation that some permission
// reads beside it.
func newReadPlan(prog *schema.Program) readPlan {
	plan := readPlan{}
	for _, d := range prog.Definitions() {
		uses := map[string]map[string]bool{} // permission -> relations it reads on the object
		var reads func(name string, seen map[string]bool, into map[string]bool)
		reads = func(name string, seen map[string]bool, into map[string]bool) {
			r := d.Relation(name)
			if r == nil || seen[name] {
				return
			}
			seen[name] = true
			if r.Kind == schema.KindRelation {
				into[name] = true
				return
			}
			var walk func(rw *schema.Rewrite)
			walk = func(rw *schema.Rewrite) {
				if rw == nil {
					return
				}
				switch rw.Op {
				case schema.OpComputed, schema.OpArrow, schema.OpArrowAll:
					reads(rw.Relation, seen, into)
				}
				for _, ch := range rw.Children {
					walk(ch)
				}
			}
			walk(r.Rewrite)
		}
		for _, r := range d.Relations {
			if r.Kind == schema.KindPermission {
				into := map[string]bool{}
				reads(r.Name, map[string]bool{}, into)
				uses[r.Name] = into
			}
		}
		for _, r := range d.Relations {
			if r.Kind != schema.KindRelation {
				continue
			}
			g := &relGroup{}
			for _, a := range r.Allowed {
				if a.Wildcard || a.Relation != "" {
					g.again = true
				}
			}
			others := map[string]bool{}
			for _, into := range uses {
				if !into[r.Name] {
					continue
				}
				for o := range into {
					if o != r.Name {
						others[o] = true
					}
				}
			}
			for o := range others {
				g.others = append(g.others, o)
			}
			sort.Strings(g.others)
			g.stats = make([]prefetchStat, len(g.others))
			plan[typeRel{d.Name, r.Name}] = g
		}
	}
	return plan
}

// readPlans keeps the plan of each program (one per schema version).
type readPlans struct {
	mu    sync.Mutex
	plans map[*schema.Program]readPlan
}

func (p *readPlans) of(prog *schema.Program) readPlan {
	p.mu.Lock()
	defer p.mu.Unlock()
	if plan, ok := p.plans[prog]; ok {
		return plan
	}
	if p.plans == nil || len(p.plans) >= 16 { // schemas change rarely; forget old ones
		p.plans = map[*schema.Program]readPlan{}
	}
	plan := newReadPlan(prog)
	p.plans[prog] = plan
	return plan
}

type objKey struct{ typ, id string }

// relRows are the rows of one relation of one object that a snapshot
// read, in the forward index's order (subject type, subject relation,
// subject id, bytewise): all of them when complete, else the first ones.
// Never changed once kept (readers use them without the lock), but for
// used.
type relRows struct {
	rows     []tuples.Relationship
	complete bool
	// stat, for a relation read along with another, learns whether it
	// was worth it: used is set when a read is first answered from rows.
	stat *prefetchStat
	used atomic.Bool
}

// answered notes that rr answered a read.
func (rr *relRows) answered() {
	if rr.stat != nil && !rr.used.Load() && rr.used.CompareAndSwap(false, true) {
		rr.stat.used.Add(1)
	}
}

func cmpSubject(r *tuples.Relationship, st, srel, sid string) int {
	if c := cmp.Compare(r.SubjectType, st); c != 0 {
		return c
	}
	if c := cmp.Compare(r.SubjectRelation, srel); c != 0 {
		return c
	}
	return cmp.Compare(r.SubjectID, sid)
}

// get looks a subject up; known is false when the rows read end before
// where it would be.
func (rr *relRows) get(st, sid, srel string) (r tuples.Relationship, found, known bool) {
	n := len(rr.rows)
	if !rr.complete && (n == 0 || cmpSubject(&rr.rows[n-1], st, srel, sid) < 0) {
		return r, false, false
	}
	i, ok := slices.BinarySearchFunc(rr.rows, 0, func(r tuples.Relationship, _ int) int { return cmpSubject(&r, st, srel, sid) })
	if !ok {
		return r, false, true
	}
	return rr.rows[i], true, true
}

// subjects returns the rows of subjects of type st with subject relation
// srel (every row when st is ""), and whether they are all of them.
func (rr *relRows) subjects(st, srel string) ([]tuples.Relationship, bool) {
	if st == "" {
		return rr.rows, rr.complete
	}
	lo := sort.Search(len(rr.rows), func(i int) bool { return cmpSubject(&rr.rows[i], st, srel, "") >= 0 })
	hi := lo + sort.Search(len(rr.rows)-lo, func(i int) bool {
		r := &rr.rows[lo+i]
		return r.SubjectType != st || r.SubjectRelation != srel
	})
	return rr.rows[lo:hi], rr.complete || hi < len(rr.rows)
}

// objCache is what a snapshot keeps of the objects it read.
type objCache struct {
	mu   sync.Mutex
	objs map[objKey][]keptRel
	rows int // kept, counting one per object besides its rows
}

type keptRel struct {
	rel string
	rr  *relRows
}

func find(kept []keptRel, rel string) *relRows {
	for _, k := range kept {
		if k.rel == rel {
			return k.rr
		}
	}
	return nil
}

func (c *objCache) lookup(rt, rid, rel string) *relRows {
	c.mu.Lock()
	defer c.mu.Unlock()
	return find(c.objs[objKey{rt, rid}], rel)
}

// toRead lists the relations of rt:rid to read with a read of rel, those
// not read yet and worth reading (rel itself first, when with), each
// with the stat that learns whether it was worth it (nil for rel); none
// when there is no room left.
func (c *objCache) toRead(plan readPlan, rt, rid, rel string, with bool) ([]string, []*prefetchStat) {
	g := plan[typeRel{rt, rel}]
	if g == nil {
		return nil, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.rows >= maxSnapshotRows {
		return nil, nil
	}
	kept := c.objs[objKey{rt, rid}]
	var rels []string
	var stats []*prefetchStat
	if with && find(kept, rel) == nil {
		rels, stats = append(rels, rel), append(stats, nil)
	}
	for i, o := range g.others {
		if find(kept, o) == nil && g.stats[i].worth() {
			rels, stats = append(rels, o), append(stats, &g.stats[i])
		}
	}
	return rels, stats
}

// keep stores the rows read of the relations rels of rt:rid (rows in
// any order; limits[i] is how many of rels[i] were asked for).
func (c *objCache) keep(rt, rid string, rels []string, limits []int32, stats []*prefetchStat, rows []tuples.Relationship) {
	add := make([]keptRel, len(rels))
	for i, rel := range rels {
		add[i] = keptRel{rel, &relRows{stat: stats[i]}}
	}
	for _, r := range rows {
		if rr := find(add, r.Relation); rr != nil {
			rr.rows = append(rr.rows, r)
		}
	}
	for i, k := range add {
		rr := k.rr
		rr.complete = len(rr.rows) < int(limits[i])
		if !slices.IsSortedFunc(rr.rows, cmpRows) {
			slices.SortFunc(rr.rows, cmpRows)
		}
		if rr.stat != nil {
			rr.stat.readAlong()
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.objs == nil {
		c.objs = map[objKey][]keptRel{}
	}
	key := objKey{rt, rid}
	kept, ok := c.objs[key]
	if !ok {
		c.rows++
	}
	for _, k := range add {
		if find(kept, k.rel) == nil { // (a concurrent read may have kept it first: the same rows)
			kept = append(kept, k)
			c.rows += len(k.rr.rows)
		}
	}
	c.objs[key] = kept
}

func cmpRows(a, b tuples.Relationship) int {
	return cmpSubject(&a, b.SubjectType, b.SubjectRelation, b.SubjectID)
}

// The statement that reads relations of one object: for each (relation,
// row limit) the first rows of the relation in the forward index's order,
// one index probe per relation. The columns are those of relColumns less
// the resource's type and id, with the relation first.
//
// The pairs are a VALUES list of one row per relation, not arrays: the
// server plans a prepared statement afresh at every execution until a
// generic plan costs no more than the plans for the values given, and
// the generic plan of unnest($1) expects 100 relations: it would be
// planned anew every time (more than the round trips saved). With
// VALUES it is planned once per connection and number of relations.
const objColumns = `relation, subject_type, subject_id, subject_relation,
	caveat_name, coalesce(caveat_context::text, ''), expiration, expiration_ns`

// objRelsSQL adds the part of a query that reads the relations of
// rt:rid, tagged 1 (the part before it, if any, is tagged 0).
func objRelsSQL(b *sqlb, rt, rid string, rels []string, limits []int32, visible func(*sqlb)) {
	b.WriteString(`SELECT 1, r.* FROM (VALUES `)
	for i, rel := range rels {
		if i > 0 {
			b.WriteString(`, `)
		}
		b.WriteString(`(` + b.arg(rel) + `::text, ` + b.arg(limits[i]) + `::int)`)
	}
	b.WriteString(`) AS g(rel, lim) CROSS JOIN LATERAL (SELECT ` + objColumns + ` FROM reach_relationships
		WHERE resource_type = ` + b.arg(rt) + ` AND relation = g.rel AND resource_id = ` + b.arg(rid))
	visible(b)
	b.WriteString(` ORDER BY subject_type, subject_relation, subject_id LIMIT g.lim) r`)
}

// scanObjRow reads one row of (tag, objColumns).
func scanObjRow(rows pgx.Rows, rt, rid string) (int32, tuples.Relationship, error) {
	var tag int32
	r := tuples.Relationship{ResourceType: rt, ResourceID: rid}
	var cav, ctx string
	var exp pgtype.Timestamptz
	var ns int16
	if err := rows.Scan(&tag, &r.Relation, &r.SubjectType, &r.SubjectID, &r.SubjectRelation, &cav, &ctx, &exp, &ns); err != nil {
		return 0, r, err
	}
	return tag, r, setTraits(&r, cav, ctx, exp, ns)
}

// readObject reads the relations rels of rt:rid (limits[i] rows of
// rels[i] at most) and keeps them; before them, in the same query, the
// rows of first (a statement of objColumns tagged 0, nil for none), which
// it returns.
func (sn *snapshot) readObject(rt, rid string, rels []string, limits []int32, stats []*prefetchStat, first func(*sqlb)) ([]tuples.Relationship, error) {
	var b sqlb
	if first != nil {
		b.WriteString(`(`)
		first(&b)
		b.WriteString(`) UNION ALL `)
	}
	objRelsSQL(&b, rt, rid, rels, limits, func(b *sqlb) { b.visibleAt(sn.rev, sn.now) })
	var firstRows, kept []tuples.Relationship
	err := sn.read(func(q *pgxpool.Pool) error {
		return sn.s.query(sn.ctx, q, b.String(), b.args, func() { firstRows, kept = firstRows[:0], kept[:0] }, func(rows pgx.Rows) error {
			tag, r, err := scanObjRow(rows, rt, rid)
			if tag == 0 {
				firstRows = append(firstRows, r)
			} else {
				kept = append(kept, r)
			}
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	sn.objs.keep(rt, rid, rels, limits, stats, kept)
	return firstRows, nil
}
