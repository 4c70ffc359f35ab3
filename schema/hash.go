package schema

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"sort"
)

// hashProgram computes a content hash of the compiled model. Positions,
// comments, layout and the order of declarations and members do not count;
// every rule does.
func hashProgram(p *Program) string {
	h := sha256.New()
	b := bufio.NewWriter(h)
	if p.useExpiration {
		b.WriteString("use expiration\n")
	}
	defs := append([]*Definition(nil), p.defs...)
	sort.Slice(defs, func(i, j int) bool { return defs[i].Name < defs[j].Name })
	for _, d := range defs {
		b.WriteString("definition " + d.Name + "\n")
		rels := append([]*Relation(nil), d.Relations...)
		sort.Slice(rels, func(i, j int) bool { return rels[i].Name < rels[j].Name })
		for _, r := range rels {
			b.WriteString(" " + r.Kind.String() + " " + r.Name)
			for _, a := range r.Allowed {
				b.WriteString(" |" + a.Type + "#" + a.Relation)
				if a.Wildcard {
					b.WriteString(":*")
				}
				b.WriteString(" c=" + a.Caveat)
				if a.Expiration {
					b.WriteString(" exp")
				}
			}
			if r.Rewrite != nil {
				b.WriteString(" = ")
				writeRewrite(b, r.Rewrite)
			}
			b.WriteString("\n")
		}
	}
	cavs := append([]*Caveat(nil), p.caveats...)
	sort.Slice(cavs, func(i, j int) bool { return cavs[i].Name < cavs[j].Name })
	for _, c := range cavs {
		b.WriteString("caveat " + c.Name + "(")
		for _, prm := range c.Params {
			b.WriteString(prm.Name + " " + prm.Type + ",")
		}
		b.WriteString(") " + c.Expr + "\n")
	}
	b.Flush()
	return hex.EncodeToString(h.Sum(nil))
}

func writeRewrite(b *bufio.Writer, r *Rewrite) {
	b.WriteString("(" + r.Op.String())
	if r.Relation != "" {
		b.WriteString(" " + r.Relation)
	}
	if r.Target != "" {
		b.WriteString(" " + r.Target)
	}
	for _, c := range r.Children {
		b.WriteString(" ")
		writeRewrite(b, c)
	}
	b.WriteString(")")
}
