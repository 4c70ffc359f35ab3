package postgres

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/reach-authz/reach/tuples"
)

// relColumns are the columns scanRel reads, in its order.
const relColumns = `resource_type, resource_id, relation, subject_type, subject_id, subject_relation,
	caveat_name, coalesce(caveat_context::text, ''), expiration, expiration_ns`

// scanRel reads one row of relColumns.
func scanRel(rows pgx.Rows) (tuples.Relationship, error) {
	var r tuples.Relationship
	var cav, ctx string
	var exp pgtype.Timestamptz
	var ns int16
	if err := rows.Scan(&r.ResourceType, &r.ResourceID, &r.Relation, &r.SubjectType, &r.SubjectID, &r.SubjectRelation, &cav, &ctx, &exp, &ns); err != nil {
		return r, err
	}
	return r, setTraits(&r, cav, ctx, exp, ns)
}

// setTraits fills r's caveat and expiration from their columns, as the
// Badger driver decodes them (a caveat context is decoded JSON; an
// expiration is in UTC).
func setTraits(r *tuples.Relationship, cav, ctx string, exp pgtype.Timestamptz, ns int16) error {
	if cav != "" {
		c := &tuples.Caveat{Name: cav}
		if ctx != "" {
			if err := json.Unmarshal([]byte(ctx), &c.Context); err != nil {
				return fmt.Errorf("corrupt caveat context of %s: %w", r.WithoutTraits(), err)
			}
		}
		r.Caveat = c
	}
	if exp.Valid {
		t := exp.Time.Add(time.Duration(ns)).UTC()
		r.Expiration = &t
	}
	return nil
}

type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// scanRows appends the relationships a query of relColumns returns.
func scanRows(ctx context.Context, q querier, sql string, args []any, out *[]tuples.Relationship) error {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return classify(err)
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanRel(rows)
		if err != nil {
			return classify(err)
		}
		*out = append(*out, r)
	}
	return classify(rows.Err())
}

// Expirations are stored to the microsecond (PostgreSQL's precision),
// rounded down, with the nanoseconds below it in expiration_ns, so that a
// relationship reads back exactly as written and expires at the same
// nanosecond as in the Badger driver.

// splitTime returns t rounded down to the microsecond and the nanoseconds
// below.
func splitTime(t time.Time) (time.Time, int16) {
	sec, nsec := t.Unix(), t.Nanosecond()
	rem := nsec % 1000
	return time.Unix(sec, int64(nsec-rem)).UTC(), int16(rem)
}

func expirationArg(r *tuples.Relationship) (pgtype.Timestamptz, int16) {
	if r.Expiration == nil {
		return pgtype.Timestamptz{}, 0
	}
	t, ns := splitTime(*r.Expiration)
	return pgtype.Timestamptz{Time: t, Valid: true}, ns
}

func contextArg(r *tuples.Relationship) (string, pgtype.Text) {
	if r.Caveat == nil {
		return "", pgtype.Text{}
	}
	if len(r.Caveat.Context) == 0 {
		return r.Caveat.Name, pgtype.Text{}
	}
	return r.Caveat.Name, pgtype.Text{String: string(marshalContext(r.Caveat.Context)), Valid: true}
}

// marshalContext writes a caveat context as compact JSON with sorted keys
// and no HTML escaping, as the Badger driver stores it.
func marshalContext(m map[string]any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		return []byte(fmt.Sprintf(`{"error":%q}`, err.Error()))
	}
	return bytes.TrimRight(buf.Bytes(), "\n")
}

// sqlb builds a statement with numbered parameters.
type sqlb struct {
	strings.Builder
	args []any
}

// arg adds a parameter and returns its placeholder.
func (b *sqlb) arg(v any) string {
	b.args = append(b.args, v)
	return "$" + strconv.Itoa(len(b.args))
}

// liveAt adds the condition that a row (of alias p, "" or "r.") is not
// expired at now.
func (b *sqlb) notExpired(p string, now time.Time) {
	t, ns := splitTime(now)
	ta := b.arg(t)
	fmt.Fprintf(b, ` AND (%[1]sexpiration IS NULL OR %[1]sexpiration > %[2]s OR (%[1]sexpiration = %[2]s AND %[1]sexpiration_ns > %[3]s))`, p, ta, b.arg(ns))
}

// visibleAt adds the condition that a row is visible at rev and not
// expired at now.
func (b *sqlb) visibleAt(rev int64, now time.Time) {
	ra := b.arg(rev)
	fmt.Fprintf(b, ` AND created_rev <= %[1]s AND deleted_rev > %[1]s`, ra)
	b.notExpired("", now)
}

// The change log. Each revision that changed relationships has one row in
// reach_changes holding its changes in order, each
//
//	op byte (Touch or Delete), then uvarint-length-prefixed strings:
//	resource type, resource id, relation, subject type, subject id,
//	subject relation, caveat name, caveat context (JSON), expiration
//	(empty, or 8-byte big-endian unix seconds and 4-byte nanoseconds)
//
// As in the Badger driver, a CREATE is reported as a TOUCH, a TOUCH with
// the values written and a DELETE with the values the relationship had.

func appendChange(b []byte, op tuples.UpdateOp, r *tuples.Relationship) []byte {
	b = append(b, byte(op))
	for _, s := range []string{r.ResourceType, r.ResourceID, r.Relation, r.SubjectType, r.SubjectID, r.SubjectRelation} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	if r.Caveat != nil {
		b = binary.AppendUvarint(b, uint64(len(r.Caveat.Name)))
		b = append(b, r.Caveat.Name...)
		if len(r.Caveat.Context) > 0 {
			ctx := marshalContext(r.Caveat.Context)
			b = binary.AppendUvarint(b, uint64(len(ctx)))
			b = append(b, ctx...)
		} else {
			b = append(b, 0)
		}
	} else {
		b = append(b, 0, 0)
	}
	if r.Expiration != nil {
		b = append(b, 12)
		b = binary.BigEndian.AppendUint64(b, uint64(r.Expiration.Unix()))
		b = binary.BigEndian.AppendUint32(b, uint32(r.Expiration.Nanosecond()))
	} else {
		b = append(b, 0)
	}
	return b
}

func decodeChanges(v []byte) ([]tuples.Change, error) {
	var out []tuples.Change
	bad := fmt.Errorf("corrupt change record")
	for len(v) > 0 {
		op := tuples.UpdateOp(v[0])
		v = v[1:]
		var f [9][]byte
		for i := range f {
			n, k := binary.Uvarint(v)
			if k <= 0 || uint64(len(v)-k) < n {
				return nil, bad
			}
			f[i] = v[k : k+int(n)]
			v = v[k+int(n):]
		}
		r := tuples.Relationship{
			ResourceType: string(f[0]), ResourceID: string(f[1]), Relation: string(f[2]),
			SubjectType: string(f[3]), SubjectID: string(f[4]), SubjectRelation: string(f[5]),
		}
		if len(f[6]) > 0 {
			c := &tuples.Caveat{Name: string(f[6])}
			if len(f[7]) > 0 {
				if err := json.Unmarshal(f[7], &c.Context); err != nil {
					return nil, fmt.Errorf("corrupt change record: %w", err)
				}
			}
			r.Caveat = c
		}
		switch len(f[8]) {
		case 0:
		case 12:
			t := time.Unix(int64(binary.BigEndian.Uint64(f[8])), int64(binary.BigEndian.Uint32(f[8][8:]))).UTC()
			r.Expiration = &t
		default:
			return nil, bad
		}
		out = append(out, tuples.Change{Op: op, Relationship: r})
	}
	return out, nil
}
