package caveats

import (
	"encoding/json"
	"slices"
	"testing"
)

// fuzzCaveats cover every parameter type.
var fuzzCaveats = []struct{ params, expr string }{
	{"a int, b uint, d double", "a + 1 > 2 && b < 4 || d > 1.5"},
	{"s string, l list<string>", "s in l || s.startsWith('x')"},
	{"m map<any>", "m.foo == 42 && m.bar < 56"},
	{"m map<list<int>>", "m.all(k, m[k].all(v, v > 0))"},
	{"t timestamp, now timestamp, d duration", "t + d > now && now.getHours() < 12"},
	{"ip ipaddress, cidr string", "ip.in_cidr(cidr)"},
	{"b bytes, x any, f bool", "size(b) > 1 && x == null || f"},
}

// FuzzEvaluate evaluates caveats with random JSON contexts: Evaluate must
// never panic, and a Partial result names only parameters absent from both
// contexts.
func FuzzEvaluate(f *testing.F) {
	for _, seed := range [][2]string{
		{`{"a": 1, "b": 2}`, `{"d": 2.5}`},
		{`{"a": "3", "b": -1}`, `{}`},
		{`{"a": 1e300}`, `{"b": "99999999999999999999"}`},
		{`{"s": "x", "l": ["y"]}`, `{"m": {"foo": 42, "bar": 1}}`},
		{`{"m": {"k": [1, 2, "3"]}}`, `{"t": "2024-01-01T00:00:00Z", "d": "1h"}`},
		{`{"now": "2024-01-01T10:00:00+02:00"}`, `{"ip": "10.0.0.1", "cidr": "10.0.0.0/8"}`},
		{`{"ip": "::1", "cidr": "nope"}`, `{"b": "AQID", "x": null, "f": true}`},
		{`{"b": "***"}`, `{"x": [1, {"a": []}], "f": "true"}`},
		{`null`, `[]`},
	} {
		f.Add([]byte(seed[0]), []byte(seed[1]))
	}
	compiled := make([]*Caveat, len(fuzzCaveats))
	for i, fc := range fuzzCaveats {
		compiled[i] = mustCompile(f, fc.params, fc.expr)
	}
	f.Fuzz(func(t *testing.T, relJSON, reqJSON []byte) {
		var rel, req map[string]any
		_ = json.Unmarshal(relJSON, &rel)
		_ = json.Unmarshal(reqJSON, &req)
		for _, c := range compiled {
			res, err := c.Evaluate(rel, req)
			if err != nil {
				continue
			}
			switch res.Outcome {
			case True, False:
				if res.Missing != nil {
					t.Fatalf("%s: %s with missing names %v", c.Expr(), res.Outcome, res.Missing)
				}
			case Partial:
				if len(res.Missing) == 0 {
					t.Fatalf("%s: partial without missing names", c.Expr())
				}
				for _, name := range res.Missing {
					_, inRel := rel[name]
					_, inReq := req[name]
					if inRel || inReq || !slices.ContainsFunc(c.params, func(p Param) bool { return p.Name == name }) {
						t.Fatalf("%s: missing %q, which was given or is no parameter", c.Expr(), name)
					}
				}
			default:
				t.Fatalf("%s: outcome %d", c.Expr(), res.Outcome)
			}
		}
	})
}

// FuzzCompile compiles random expressions and parameter types: never a
// panic, and a failure is a *CompileError or an error naming the caveat.
func FuzzCompile(f *testing.F) {
	f.Add("a int", "a == 1")
	f.Add("l list<map<int>>", "l.exists(m, m.x > 1)")
	f.Add("ip ipaddress", "ip.in_cidr('1.2.3.0/24') && ")
	f.Add("x any", "x.y.z[0] == 'a'")
	f.Add("list<", "((((")
	f.Fuzz(func(t *testing.T, typ, expr string) {
		c, err := Compile(def("p "+typ, expr))
		if err == nil && c == nil {
			t.Fatal("nil caveat without error")
		}
		if err == nil {
			_, _ = c.Evaluate(nil, map[string]any{"p": 1.0})
		}
	})
}
