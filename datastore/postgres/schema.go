package postgres

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/reach-authz/reach/caveats"
	"github.com/reach-authz/reach/schema"
	"github.com/reach-authz/reach/tuples"
)

// schemaCache knows which revisions wrote a schema and keeps their compiled
// programs, one per revision: the engine caches its models by *Program, so
// every snapshot of one schema version must hand out the same pointer.
// Schema writes of other nodes are learnt as reads reach their revisions.
type schemaCache struct {
	mu    sync.Mutex
	known int64   // every schema revision <= known is in revs
	revs  []int64 // ascending
	progs map[int64]*schema.Program
}

func (c *schemaCache) knownUpTo() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.known
}

// learn records the schema revisions found in (known, upTo], a read that
// saw every revision up to upTo committed.
func (c *schemaCache) learn(revs []int64, upTo int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range revs {
		i := sort.Search(len(c.revs), func(i int) bool { return c.revs[i] >= r })
		if i < len(c.revs) && c.revs[i] == r {
			continue
		}
		c.revs = append(c.revs, 0)
		copy(c.revs[i+1:], c.revs[i:])
		c.revs[i] = r
	}
	if upTo > c.known {
		c.known = upTo
	}
}

// at returns the revision of the schema in force at rev (known >= rev).
func (c *schemaCache) at(rev int64) (int64, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := sort.Search(len(c.revs), func(i int) bool { return c.revs[i] > rev })
	if i == 0 {
		return 0, false
	}
	return c.revs[i-1], true
}

func (c *schemaCache) get(srev int64) *schema.Program {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.progs[srev]
}

// newest is the cached program of the newest schema revision known, or nil.
func (c *schemaCache) newest() *schema.Program {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.revs) == 0 {
		return nil
	}
	return c.progs[c.revs[len(c.revs)-1]]
}

// put caches p as the program of srev, unless one is cached already: that
// one is returned, so that every caller gets the same pointer.
func (c *schemaCache) put(srev int64, p *schema.Program) *schema.Program {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.progs == nil {
		c.progs = map[int64]*schema.Program{}
	}
	if old := c.progs[srev]; old != nil {
		return old
	}
	c.progs[srev] = p
	return p
}

// forget drops the programs of schema versions older than the one in force
// at oldest (garbage collection removed them).
func (c *schemaCache) forget(oldest int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := sort.Search(len(c.revs), func(i int) bool { return c.revs[i] > oldest })
	if i <= 1 {
		return
	}
	for _, r := range c.revs[:i-1] {
		delete(c.progs, r)
	}
	c.revs = append(c.revs[:0:0], c.revs[i-1:]...)
}

// programAt returns the schema in force at rev (nil if none), which a
// read that learnt the schema revisions up to rev has checked readable. A
// program not cached yet is read through q: a pool, or the connection of
// the transaction that asks (which must not wait for a second one).
func (s *Store) programAt(ctx context.Context, q queryRower, rev int64) (*schema.Program, int64, error) {
	srev, ok := s.schemas.at(rev)
	if !ok {
		return nil, 0, nil
	}
	if p := s.schemas.get(srev); p != nil {
		return p, srev, nil
	}
	var filename string
	var src []byte
	const load = `SELECT filename, source FROM reach_schemas WHERE rev = $1`
	var err error
	if pool, ok := q.(*pgxpool.Pool); ok {
		err = s.queryRow(ctx, pool, load, []any{srev}, &filename, &src)
	} else {
		err = classify(q.QueryRow(ctx, load, srev).Scan(&filename, &src))
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read schema of revision %d: %w", srev, err)
	}
	p, _, err := schema.Compile(filename, src)
	if err != nil {
		return nil, 0, fmt.Errorf("stored schema of revision %d no longer compiles: %w", srev, err)
	}
	return s.schemas.put(srev, p), srev, nil
}

// headSchema reads the head and the schema in force there.
func (s *Store) headSchema(ctx context.Context) (*schema.Program, int64, tuples.Revision, error) {
	head, err := s.HeadRevision(ctx)
	if err != nil {
		return nil, 0, 0, err
	}
	q, err := s.readable(ctx, head)
	if err != nil {
		return nil, 0, 0, err
	}
	var p *schema.Program
	var srev int64
	_, err = s.read(ctx, q, int64(head), func(q *pgxpool.Pool) (err error) {
		p, srev, err = s.programAt(ctx, q, int64(head))
		return err
	})
	return p, srev, head, err
}

// Schema returns the latest schema and the revision that wrote it; a nil
// Program (and no error) if none was written.
func (s *Store) Schema(ctx context.Context) (*schema.Program, tuples.Revision, error) {
	p, srev, _, err := s.headSchema(ctx)
	if err != nil {
		return nil, 0, err
	}
	return p, tuples.Revision(srev), nil
}

// SchemaSource returns the latest schema as it was written: its file name
// and text.
func (s *Store) SchemaSource(ctx context.Context) (string, []byte, tuples.Revision, error) {
	if err := s.checkOpen(); err != nil {
		return "", nil, 0, err
	}
	var rev int64
	var name string
	var src []byte
	err := s.queryRow(ctx, s.pool, `SELECT rev, filename, source FROM reach_schemas ORDER BY rev DESC LIMIT 1`, nil, &rev, &name, &src)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil, 0, nil
	}
	if err != nil {
		return "", nil, 0, err
	}
	return name, src, tuples.Revision(rev), nil
}

// WriteSchema compiles src and, if it has no errors and orphans no stored
// relationship, stores it as the schema of the next revision, as
// tuples.Store.WriteSchema does: the diagnostics (warnings included) are
// returned in every case, a compile error as Compile returned it, and an
// orphaning change as an error wrapping tuples.ErrOrphans naming one
// offending relationship.
func (s *Store) WriteSchema(ctx context.Context, filename string, src []byte) (tuples.Revision, []schema.Diagnostic, error) {
	prog, diags, err := schema.Compile(filename, src)
	if err != nil {
		return 0, diags, err
	}
	if errs := caveats.CheckProgram(prog, src); len(errs) > 0 {
		diags = append(diags, errs...)
		return 0, diags, errs
	}
	if err := s.checkOpen(); err != nil {
		return 0, diags, err
	}
	if err := ctx.Err(); err != nil {
		return 0, diags, err
	}
	tx, err := s.begin(ctx)
	if err != nil {
		return 0, diags, err
	}
	defer tx.Rollback(context.Background())
	rev, old, err := s.lockHead(ctx, tx)
	if err != nil {
		return 0, diags, err
	}
	if old != nil {
		if err := checkOrphans(ctx, tx, old, prog); err != nil {
			return 0, diags, err
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO reach_schemas (rev, filename, source) VALUES ($1, $2, $3)`, rev, filename, src); err != nil {
		return 0, diags, classify(err)
	}
	if err := s.commit(ctx, tx, rev, nil); err != nil {
		return 0, diags, fmt.Errorf("write schema: %w", err)
	}
	s.schemas.learn([]int64{rev}, rev)
	s.schemas.put(rev, prog)
	return tuples.Revision(rev), diags, nil
}

// lockHead takes the next revision inside tx: it increments the head row,
// whose lock then serialises this transaction with every other write until
// it ends, so revisions commit in order. It returns the new revision and the
// schema in force before it (read after the lock was taken, so it is the
// latest).
func (s *Store) lockHead(ctx context.Context, tx pgx.Tx) (int64, *schema.Program, error) {
	// One round trip: the statements of a pipeline run in order, and under
	// READ COMMITTED the second takes its snapshot once the first holds the
	// lock, so it sees every revision committed before.
	b := &pgx.Batch{}
	var rev int64
	var srevs []int64
	b.Queue(`UPDATE reach_head SET rev = rev + 1 RETURNING rev`).QueryRow(func(row pgx.Row) error { return row.Scan(&rev) })
	b.Queue(`SELECT ARRAY(SELECT rev FROM reach_schemas WHERE rev > $1 ORDER BY rev)`, s.schemas.knownUpTo()).QueryRow(func(row pgx.Row) error { return row.Scan(&srevs) })
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return 0, nil, classify(err)
	}
	s.schemas.learn(srevs, rev-1)
	prog, _, err := s.programAt(ctx, tx, rev-1)
	if err != nil {
		return 0, nil, err
	}
	return rev, prog, nil
}

// learnSchemas learns the schema revisions up to head, through q, whose
// next statement sees every revision up to head committed.
func (s *Store) learnSchemas(ctx context.Context, q queryRower, head int64) error {
	var srevs []int64
	if err := q.QueryRow(ctx, `SELECT ARRAY(SELECT rev FROM reach_schemas WHERE rev > $1 ORDER BY rev)`, s.schemas.knownUpTo()).Scan(&srevs); err != nil {
		return classify(err)
	}
	s.schemas.learn(srevs, head)
	return nil
}

// commit records rev's commit time and changes, notifies the other nodes,
// and commits tx.
func (s *Store) commit(ctx context.Context, tx pgx.Tx, rev int64, changes []byte) error {
	b := &pgx.Batch{}
	if len(changes) > 0 {
		b.Queue(`INSERT INTO reach_changes (rev, changes) VALUES ($1, $2)`, rev, changes)
	}
	b.Queue(`INSERT INTO reach_revisions (rev, committed_at) VALUES ($1, clock_timestamp())`, rev)
	b.Queue(`SELECT pg_notify('reach_head', $1::text)`, fmt.Sprint(rev))
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return classify(err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit revision %d: %w", rev, classify(err))
	}
	s.observeHead(rev)
	return nil
}

// checkOrphans refuses a new schema under which some stored relationship
// would no longer be allowed (see tuples.Store.WriteSchema): for each
// allowed subject type that disappears, one indexed query looks for a live
// relationship (expired or not) that uses it.
func checkOrphans(ctx context.Context, tx pgx.Tx, old, next *schema.Program) error {
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
				wild := "<>"
				if a.Wildcard {
					wild = "="
				}
				var rels []tuples.Relationship
				err := scanRows(ctx, tx, `SELECT `+relColumns+` FROM reach_relationships
					WHERE subject_type = $1 AND subject_relation = $2 AND resource_type = $3 AND relation = $4
					AND subject_id `+wild+` '*' AND deleted_rev = 9223372036854775807
					ORDER BY subject_id, resource_id LIMIT 1`,
					[]any{a.Type, a.Relation, def.Name, rel.Name}, &rels)
				if err != nil {
					return err
				}
				if len(rels) == 0 {
					continue
				}
				why := fmt.Sprintf("relation `%s#%s` is removed", def.Name, rel.Name)
				switch {
				case next.Definition(def.Name) == nil:
					why = fmt.Sprintf("definition `%s` is removed", def.Name)
				case nrel != nil:
					why = fmt.Sprintf("subject type `%s` is no longer allowed on `%s#%s`", allowedString(a), def.Name, rel.Name)
				case next.Lookup(def.Name, rel.Name) != nil:
					why = fmt.Sprintf("relation `%s#%s` becomes a permission", def.Name, rel.Name)
				}
				return fmt.Errorf("%w: %s but relationship %s still uses it; delete such relationships first", tuples.ErrOrphans, why, rels[0])
			}
		}
	}
	return nil
}

// allowedString prints an allowed subject type as the Badger driver's
// messages do.
func allowedString(a schema.AllowedType) string {
	var b strings.Builder
	b.WriteString(a.Type)
	switch {
	case a.Wildcard:
		b.WriteString(":*")
	case a.Relation != "":
		b.WriteString("#" + a.Relation)
	}
	if a.Caveat != "" {
		b.WriteString(" with " + a.Caveat)
	}
	if a.Expiration {
		if a.Caveat != "" {
			b.WriteString(" and expiration")
		} else {
			b.WriteString(" with expiration")
		}
	}
	return b.String()
}

// Snapshot opens a consistent read-only view at rev. Expiration is judged
// against the time the snapshot is opened; every read through it is bound
// to ctx.
func (s *Store) Snapshot(ctx context.Context, rev tuples.Revision) (tuples.Snapshot, error) {
	q, err := s.readable(ctx, rev)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	var prog *schema.Program
	q, err = s.read(ctx, q, int64(rev), func(q *pgxpool.Pool) (err error) {
		prog, _, err = s.programAt(ctx, q, int64(rev))
		return err
	})
	if err != nil {
		return nil, err
	}
	sn := &snapshot{s: s, ctx: ctx, rev: int64(rev), prog: prog, now: time.Now()}
	if prog != nil && s.opts.PrefetchRows > 0 {
		sn.plan, sn.prefetch = s.plans.of(prog), int32(s.opts.PrefetchRows)
	}
	sn.q.Store(q)
	return sn, nil
}
