package schema

import "context"

// Compile parses and checks src and, when it holds no error, builds its
// Program. diags holds every warning and error in source order; err is
// non-nil (an ErrorList) iff there is at least one error, and then the
// Program is nil. A schema beyond the limits of limits.go is refused with an
// error where it crosses the limit.
func Compile(filename string, src []byte) (*Program, []Diagnostic, error) {
	return compile(context.Background(), filename, src, defaultLimits)
}

func compile(ctx context.Context, filename string, src []byte, lim limits) (*Program, []Diagnostic, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, stopError(filename, err)
	}
	stop := newStopper(ctx)
	f, diags := parse(filename, src, lim, stop)
	if stop.err != nil {
		return nil, nil, stopError(filename, stop.err)
	}
	c := newChecker(f, stop)
	c.check()
	if stop.err != nil {
		return nil, nil, stopError(filename, stop.err)
	}
	diags = append(diags, c.diags...)
	sortDiags(diags)
	diags = dedupDiags(diags)
	if err := errorsOf(diags); err != nil {
		return nil, diags, err
	}
	p := build(f, stop)
	if stop.err != nil {
		return nil, nil, stopError(filename, stop.err)
	}
	return p, diags, nil
}

// dedupDiags drops a diagnostic identical to the one before it.
func dedupDiags(d []Diagnostic) []Diagnostic {
	out := d[:0]
	for i, x := range d {
		if i > 0 && x == d[i-1] {
			continue
		}
		out = append(out, x)
	}
	return out
}

// build turns a checked AST into a Program, or returns nil once stop says
// to.
func build(f *File, stop *stopper) *Program {
	p := &Program{
		defsByName:    map[string]*Definition{},
		caveatsByName: map[string]*Caveat{},
	}
	for _, u := range f.Uses {
		if u.Name == "expiration" {
			p.useExpiration = true
		}
	}
	for _, d := range f.Decls {
		if stop.stopped() {
			return nil
		}
		switch d := d.(type) {
		case *DefinitionDecl:
			def := &Definition{Name: d.Name, Pos: d.NamePos, Doc: d.Doc, byName: map[string]*Relation{}}
			for _, m := range d.Members {
				if stop.stopped() {
					return nil
				}
				var r *Relation
				switch m := m.(type) {
				case *RelationDecl:
					r = &Relation{Definition: d.Name, Name: m.Name, Kind: KindRelation, Pos: m.NamePos, Doc: m.Doc}
					for _, t := range m.Types {
						r.Allowed = append(r.Allowed, AllowedType{
							Type: t.Type, Relation: t.Relation, Wildcard: t.Wildcard,
							Caveat: t.Caveat, Expiration: t.Expiration, Pos: t.Pos,
						})
					}
				case *PermissionDecl:
					r = &Relation{Definition: d.Name, Name: m.Name, Kind: KindPermission, Pos: m.NamePos, Doc: m.Doc}
					r.Rewrite = compileExpr(m.Expr)
				}
				def.Relations = append(def.Relations, r)
				def.byName[r.Name] = r
			}
			p.defs = append(p.defs, def)
			p.defsByName[def.Name] = def
		case *CaveatDecl:
			cv := &Caveat{Name: d.Name, Expr: d.Expr, Pos: d.NamePos, Doc: d.Doc}
			for _, prm := range d.Params {
				cv.Params = append(cv.Params, CaveatParam{Name: prm.Name, Type: prm.Type.String()})
			}
			p.caveats = append(p.caveats, cv)
			p.caveatsByName[cv.Name] = cv
		}
	}
	if stop.stopped() {
		return nil
	}
	p.source = Format(f)
	p.hash = hashProgram(p)
	return p
}

// compileExpr turns a permission expression into a rewrite tree: unions and
// intersections are flattened into n-ary nodes, exclusions stay binary. A
// node's position is that of its first operand, taken from its first child
// so that no subtree is walked twice (a chain `a - b - c - ...` of n terms
// compiles in O(n)).
func compileExpr(e Expr) *Rewrite {
	switch e := e.(type) {
	case *NilExpr:
		return &Rewrite{Op: OpNil, Pos: e.Pos}
	case *Ident:
		return &Rewrite{Op: OpComputed, Relation: e.Name, Pos: e.Pos}
	case *ArrowExpr:
		op := OpArrow
		if e.Func == ArrowAllFunc {
			op = OpArrowAll
		}
		left, _ := e.Left.(*Ident)
		return &Rewrite{Op: op, Relation: left.Name, Target: e.Target, Pos: left.Pos}
	case *BinaryExpr:
		switch e.Op {
		case OpMinus:
			x, y := compileExpr(e.X), compileExpr(e.Y)
			return &Rewrite{Op: OpExclusion, Children: []*Rewrite{x, y}, Pos: x.Pos}
		case OpPlus, OpAmp:
			op := OpUnion
			if e.Op == OpAmp {
				op = OpIntersection
			}
			r := &Rewrite{Op: op}
			var flatten func(x Expr)
			flatten = func(x Expr) {
				if b, ok := x.(*BinaryExpr); ok && b.Op == e.Op {
					flatten(b.X)
					flatten(b.Y)
					return
				}
				r.Children = append(r.Children, compileExpr(x))
			}
			flatten(e)
			r.Pos = r.Children[0].Pos
			return r
		}
	}
	return nil
}
