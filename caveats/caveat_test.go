package caveats

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/reach-authz/reach/schema"
)

// def builds a schema.Caveat from "name type, name type" and an expression.
func def(params, expr string) *schema.Caveat {
	c := &schema.Caveat{Name: "test", Expr: expr}
	for _, p := range strings.Split(params, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		name, typ, _ := strings.Cut(p, " ")
		c.Params = append(c.Params, schema.CaveatParam{Name: name, Type: strings.TrimSpace(typ)})
	}
	return c
}

func mustCompile(t testing.TB, params, expr string, opts ...Option) *Caveat {
	t.Helper()
	c, err := Compile(def(params, expr), opts...)
	require.NoError(t, err)
	return c
}

func TestCompile(t *testing.T) {
	tcs := []struct {
		name, params, expr string
		wantErr            string // "" for success
	}{
		{"static", "", "true", ""},
		{"int comparison", "a int", "a == 42", ""},
		{"uint compares with int literal", "a uint", "a < 4", ""},
		{"list macro", "l list<int>", "l.all(i, i >= 42)", ""},
		{"map dot", "m map<any>", "m.foo == 42 && m.bar < 56", ""},
		{"in list", "teams list<string>, me string", "me in teams", ""},
		{"ipaddress", "ip ipaddress, cidr string", "ip.in_cidr(cidr)", ""},
		{"timestamp", "now timestamp, exp timestamp", "now < exp", ""},
		{"duration arithmetic", "t timestamp, d duration, now timestamp", "t + d > now", ""},
		{"bytes size", "b bytes", "size(b) > 2", ""},
		{"multi-line", "a int, b int", "a == 1 ||\n  b == 2", ""},

		// Errors: CEL's messages, positions inside the expression.
		{"undeclared name", "a int", "a == b", "caveat test: 1:6: undeclared reference to 'b' (in container '')"},
		{"undeclared on line 2", "a int", "a == 1 &&\n  c", "caveat test: 2:3: undeclared reference to 'c' (in container '')"},
		{"syntax error", "a int", "a ==", "caveat test: 1:5: Syntax error: mismatched input '<EOF>' expecting"},
		{"type mismatch", "a int", "a == 'x'", "caveat test: 1:3: found no matching overload for '_==_' applied to '(int, string)'"},
		{"not bool", "a int", "a + 1", "caveat test: caveat expression must result in a boolean value: found `int`"},
		{"dyn is not bool", "m map<any>", "m.foo", "caveat test: caveat expression must result in a boolean value: found `dyn`"},
		{"in_cidr on a string", "s string", "s.in_cidr('10.0.0.0/8')", "found no matching overload for 'in_cidr' applied to 'string.(string)'"},
		// SpiceDB registers no string(ipaddress) overload either.
		{"string of an ipaddress", "a ipaddress", "string(a) == '10.0.0.1'", "caveat test: 1:7: found no matching overload for 'string' applied to '(IPAddress)'"},
		{"unknown param type", "a float", "a > 1.0", "caveat test: parameter `a`: unknown type `float`"},
		{"duplicate param", "a int, a int", "a > 1", "caveat test: variable `a` already exists"},
		{"too long", "a int", "a == 1" + strings.Repeat(" || a == 1", MaxExpressionSize/10),
			"caveat test: caveat expression provided exceeds maximum allowed size of 100000 characters"},
	}
	for _, tc := range tcs {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Compile(def(tc.params, tc.expr))
			if tc.wantErr == "" {
				require.NoError(t, err)
				require.Equal(t, "test", c.Name())
				require.Equal(t, tc.expr, c.Expr())
				return
			}
			require.Error(t, err)
			require.Nil(t, c)
			require.Contains(t, err.Error(), tc.wantErr)
			var ce *CompileError
			require.True(t, errors.As(err, &ce))
			require.NotEmpty(t, ce.Issues)
		})
	}
	_, err := Compile(nil)
	require.Error(t, err)
}

func TestCompileIssuePositions(t *testing.T) {
	_, err := Compile(def("a int", "a == 1 &&\n  zz > 2"))
	var ce *CompileError
	require.True(t, errors.As(err, &ce))
	require.Equal(t, []Issue{{Line: 2, Column: 3, Msg: "undeclared reference to 'zz' (in container '')"}}, ce.Issues)
}

func TestParams(t *testing.T) {
	c := mustCompile(t, "b string, a list<int>", "a.size() > 0 && b == ''")
	ps := c.Params()
	require.Len(t, ps, 2)
	require.Equal(t, "b", ps[0].Name)
	require.Equal(t, "string", ps[0].Type.String())
	require.Equal(t, "list<int>", ps[1].Type.String())
	ps[0].Name = "changed"
	require.Equal(t, "b", c.Params()[0].Name)
}

var (
	resTrue  = Result{Outcome: True}
	resFalse = Result{Outcome: False}
)

func partial(names ...string) Result { return Result{Outcome: Partial, Missing: names} }

// The first cases follow SpiceDB's pkg/caveats TestEvaluateCaveat, with
// JSON-decoded values (float64 numbers, strings) as the API gives them.
func TestEvaluate(t *testing.T) {
	tcs := []struct {
		name, params, expr string
		rel, req           map[string]any
		want               Result
	}{
		{"static expression", "", "true", nil, nil, resTrue},
		{"static false expression", "", "false", nil, nil, resFalse},
		{"static numeric expression", "", "1 + 2 == 3", nil, nil, resTrue},
		{"static false numeric expression", "", "2 - 2 == 1", nil, nil, resFalse},
		{"computed expression", "a int", "a + 2 == 4", nil, map[string]any{"a": 2.0}, resTrue},
		{"missing variables for expression", "a int", "a + 2 == 4", nil, nil, partial("a")},
		{"missing right side of or", "a int, b int", "(a == 2) || (b == 6)", nil, map[string]any{"a": 2.0}, resTrue},
		{"missing left side of or", "a int, b int", "(a == 2) || (b == 6)", nil, map[string]any{"b": 6.0}, resTrue},
		{"missing both sides of or", "a int, b int", "(a == 2) || (b == 6)", nil, nil, partial("a", "b")},
		{"missing left side of and", "a int, b int", "(a == 2) && (b == 6)", nil, map[string]any{"b": 6.0}, partial("a")},
		{"missing right side of and", "a int, b int", "(a == 2) && (b == 6)", nil, map[string]any{"a": 2.0}, partial("b")},
		{"and decided false despite missing", "a int, b int", "(a == 2) && (b == 6)", nil, map[string]any{"a": 3.0}, resFalse},
		{"partial arithmetic", "a int, b int", "a + b > 47", map[string]any{"a": 42.0}, nil, partial("b")},
		{"map evaluation", "m map<bool>, idx string", "m[idx]", nil, map[string]any{"m": map[string]any{"1": true}, "idx": "1"}, resTrue},
		{"map dot evaluation", "m map<bool>", "m.foo", nil, map[string]any{"m": map[string]any{"foo": true}}, resTrue},
		{"list index", "l list<string>, idx int", "l[idx] == 'hello'", nil, map[string]any{"l": []any{"hi", "hello", "yo"}, "idx": 1.0}, resTrue},
		{"list index missing idx", "l list<string>, idx int", "l[idx] == 'hello'", map[string]any{"l": []any{"hi"}}, nil, partial("idx")},
		{"list index missing list", "l list<string>, idx int", "l[idx] == 'hello'", nil, map[string]any{"idx": 1.0}, partial("l")},
		// 2000-10-10T10:10:10 in WET (UTC+1 in October) is 09:10 UTC.
		{"timestamp operations default to UTC", "a timestamp", "a.getHours() == 9", nil, map[string]any{"a": "2000-10-10T10:10:10+01:00"}, resTrue},
		{"timestamp comparison", "a timestamp, b timestamp", "a < b", nil, map[string]any{"a": "2000-10-10T10:10:10Z", "b": "2000-10-10T10:10:10Z"}, resFalse},
		{"timestamp comparison 2", "a timestamp, b timestamp", "a <= b", nil, map[string]any{"a": "2000-10-10T10:10:10Z", "b": "2000-10-10T10:10:10Z"}, resTrue},
		{"timestamp with offset", "now timestamp, exp timestamp", "now < exp", map[string]any{"exp": "2024-10-03T07:16:28.068632-07:00"}, map[string]any{"now": "2024-10-03T14:16:28Z"}, resTrue},
		{"duration", "start timestamp, d duration, now timestamp", "start + d > now",
			map[string]any{"start": "2024-01-01T00:00:00Z", "d": "1h30m"}, map[string]any{"now": "2024-01-01T01:29:00Z"}, resTrue},
		{"bytes", "b bytes", "b == b'\\x01\\x02'", nil, map[string]any{"b": "AQI="}, resTrue},
		{"double", "d double", "d > 1.5", nil, map[string]any{"d": 2.0}, resTrue},
		{"double from integer JSON", "d double", "d == 2.0", nil, map[string]any{"d": 2.0}, resTrue},
		{"uint vs uint", "limit uint, count uint", "count < limit", map[string]any{"limit": 4.0}, map[string]any{"count": 3.0}, resTrue},
		{"uint vs int literal", "count uint", "count < 4", nil, map[string]any{"count": 5.0}, resFalse},
		{"list all empty", "l list<int>", "l.all(i, i >= 42)", nil, map[string]any{"l": []any{}}, resTrue},
		{"list all", "l list<int>", "l.all(i, i >= 42)", nil, map[string]any{"l": []any{56.0, 42.0}}, resTrue},
		{"list all false", "l list<int>", "l.all(i, i >= 42)", nil, map[string]any{"l": []any{12.0}}, resFalse},
		{"in list", "teams list<string>, me string", "me in teams", map[string]any{"me": "A"}, map[string]any{"teams": []any{"A"}}, resTrue},
		{"map<any> numbers compare across types", "m map<any>", "m.foo == 42 && m.bar < 56", nil, map[string]any{"m": map[string]any{"foo": 42.0, "bar": -2.0}}, resTrue},
		{"map<any> false", "m map<any>", "m.foo == 42 && m.bar < 56", nil, map[string]any{"m": map[string]any{"foo": 42.0, "bar": 56.0}}, resFalse},
		{"ipaddress in cidr", "ip ipaddress", "ip.in_cidr('192.168.0.0/16')", nil, map[string]any{"ip": "192.168.10.10"}, resTrue},
		{"ipaddress not in cidr", "ip ipaddress", "ip.in_cidr('192.168.0.0/16')", nil, map[string]any{"ip": "1.2.3.4"}, resFalse},
		{"ipv6 in cidr", "ip ipaddress", "ip.in_cidr('2001:db8::/32')", nil, map[string]any{"ip": "2001:db8::7"}, resTrue},
		{"ipaddress missing cidr param", "ip ipaddress, cidr string", "ip.in_cidr(cidr)", map[string]any{"cidr": "10.0.0.0/8"}, nil, partial("ip")},
		{"ipaddress equality", "a ipaddress, b ipaddress", "a == b", nil, map[string]any{"a": "10.0.0.1", "b": "10.0.0.1"}, resTrue},

		// Merging: the relationship's context wins (basiccaveat.yaml).
		{"stored context wins", "somecondition int", "somecondition == 42",
			map[string]any{"somecondition": 42.0}, map[string]any{"somecondition": 41.0}, resTrue},
		{"stored context wins (false)", "somecondition int", "somecondition == 42",
			map[string]any{"somecondition": 41.0}, map[string]any{"somecondition": 42.0}, resFalse},
		{"request fills the rest", "a int, b int", "a == 1 && b == 2", map[string]any{"a": 1.0}, map[string]any{"b": 2.0}, resTrue},
		{"unknown names are ignored", "a int", "a == 1", map[string]any{"zzz": "x"}, map[string]any{"a": 1.0, "other": []any{1.0}}, resTrue},
		{"bad value for an unknown name is ignored", "a int", "a == 1", nil, map[string]any{"a": 1.0, "b": "not a number"}, resTrue},
		{"null any", "x any", "x == null", nil, map[string]any{"x": nil}, resTrue},
	}
	for _, tc := range tcs {
		t.Run(tc.name, func(t *testing.T) {
			c := mustCompile(t, tc.params, tc.expr)
			got, err := c.Evaluate(tc.rel, tc.req)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestEvaluateErrors(t *testing.T) {
	tcs := []struct {
		name, params, expr string
		rel, req           map[string]any
		want               string
		typeErr            bool
	}{
		{"string for an int", "a int", "a == 1", nil, map[string]any{"a": "abc"},
			"type error for parameters for caveat `test`: could not convert context parameter `a`: for int: a int64 value is required, but found invalid string value `abc`", true},
		{"stored bad value", "a int", "a == 1", map[string]any{"a": true}, map[string]any{"a": 1.0},
			"type error for parameters for caveat `test`: could not convert context parameter `a`: for int: a int64 value is required, but found bool `true`", true},
		{"fraction for an int", "a int", "a == 1", nil, map[string]any{"a": 1.5},
			"type error for parameters for caveat `test`: could not convert context parameter `a`: for int: a int value is required, but found numeric value `1.5`", true},
		{"bad ip", "ip ipaddress", "ip.in_cidr('10.0.0.0/8')", nil, map[string]any{"ip": "nope"},
			"could not convert context parameter `ip`: for ipaddress: could not parse ip address string `nope`", true},
		{"context for a caveat without parameters", "", "true", nil, map[string]any{"a": 1.0},
			"type error for parameters for caveat `test`: missing parameters for caveat", true},
		// SpiceDB's TestIPAddressInvalidCIDR.
		{"invalid cidr", "ip ipaddress", "ip.in_cidr('invalidcidr')", nil, map[string]any{"ip": "192.168.10.10"},
			"evaluation error for caveat test: invalid CIDR string: `invalidcidr`", false},
		{"index out of range", "l list<int>", "l[3] == 1", nil, map[string]any{"l": []any{1.0}},
			"evaluation error for caveat test: index out of bounds: 3", false},
		{"missing map key", "m map<int>", "m.foo == 1", nil, map[string]any{"m": map[string]any{}},
			"evaluation error for caveat test: no such key: foo", false},
		{"overflow", "a int", "a + 1 > 0", nil, map[string]any{"a": "9223372036854775807"},
			"evaluation error for caveat test: integer overflow", false},
		{"division by zero", "a int", "1 / a == 1", nil, map[string]any{"a": 0.0},
			"evaluation error for caveat test: division by zero", false},
	}
	for _, tc := range tcs {
		t.Run(tc.name, func(t *testing.T) {
			c := mustCompile(t, tc.params, tc.expr)
			got, err := c.Evaluate(tc.rel, tc.req)
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
			require.Equal(t, Result{}, got)
			var pe *ParameterTypeError
			var ee *EvaluationError
			require.Equal(t, tc.typeErr, errors.As(err, &pe))
			require.Equal(t, !tc.typeErr, errors.As(err, &ee))
		})
	}
}

// SpiceDB's TestEvalWithMaxCost.
func TestEvaluateMaxCost(t *testing.T) {
	c := mustCompile(t, "a int, b int", "a + b > 47", WithMaxCost(1))
	_, err := c.Evaluate(nil, map[string]any{"a": 42.0, "b": 4.0})
	require.EqualError(t, err, "evaluation error for caveat test: operation cancelled: actual cost limit exceeded")

	c = mustCompile(t, "a int, b int", "a + b > 47", WithMaxCost(100))
	got, err := c.Evaluate(nil, map[string]any{"a": 42.0, "b": 6.0})
	require.NoError(t, err)
	require.Equal(t, resTrue, got)
}

func TestEvaluateDoesNotModifyInputs(t *testing.T) {
	c := mustCompile(t, "a int, b list<int>", "a in b")
	rel := map[string]any{"a": 1.0}
	req := map[string]any{"a": 2.0, "b": []any{1.0, 2.0}}
	got, err := c.Evaluate(rel, req)
	require.NoError(t, err)
	require.Equal(t, resTrue, got)
	require.Equal(t, map[string]any{"a": 1.0}, rel)
	require.Equal(t, map[string]any{"a": 2.0, "b": []any{1.0, 2.0}}, req)
}

func TestCombine(t *testing.T) {
	pa, pb := partial("a"), partial("b")
	tcs := []struct {
		name string
		got  Result
		want Result
	}{
		{"and true true", And(resTrue, resTrue), resTrue},
		{"and true false", And(resTrue, resFalse), resFalse},
		{"and partial false", And(pa, resFalse), resFalse},
		{"and false partial", And(resFalse, pa), resFalse},
		{"and partial true", And(pa, resTrue), pa},
		{"and partial partial", And(pb, pa), partial("a", "b")},
		{"or false false", Or(resFalse, resFalse), resFalse},
		{"or partial true", Or(pa, resTrue), resTrue},
		{"or partial false", Or(pa, resFalse), pa},
		{"or partial partial", Or(pa, partial("a", "c")), partial("a", "c")},
		{"not true", Not(resTrue), resFalse},
		{"not false", Not(resFalse), resTrue},
		{"not partial", Not(pa), pa},
	}
	for _, tc := range tcs {
		require.Equal(t, tc.want, tc.got, tc.name)
	}
	require.Equal(t, "partial, missing a, b", partial("a", "b").String())
	require.Equal(t, "true", resTrue.String())
	require.Equal(t, "false", resFalse.String())
}

func TestConcurrentEvaluate(t *testing.T) {
	c := mustCompile(t, "a int, ip ipaddress", "a > 3 && ip.in_cidr('10.0.0.0/8')")
	done := make(chan error)
	for i := range 8 {
		go func() {
			var err error
			for j := range 200 {
				var r Result
				r, err = c.Evaluate(map[string]any{"ip": "10.1.2.3"}, map[string]any{"a": float64(i + j)})
				if err == nil && (r.Outcome == True) != (i+j > 3) {
					err = errors.New("wrong result")
				}
				if err != nil {
					break
				}
			}
			done <- err
		}()
	}
	for range 8 {
		require.NoError(t, <-done)
	}
}

func TestCompileProgram(t *testing.T) {
	src := "definition user {}\n\ncaveat okay(a int) {\n  a == 1\n}\n\ncaveat bad_one(a int, ip ipaddress) {\n  a == 1 &&\n    ip.in_cidr(a)\n}\n\ndefinition doc {\n  relation viewer: user with okay | user with bad_one\n}\n"
	prog, diags, err := schema.Compile("s.zed", []byte(src))
	require.NoError(t, err, "%v", diags)
	_, err = CompileProgram(prog, []byte(src))
	var ce *CompileError
	require.True(t, errors.As(err, &ce), "%v", err)
	require.Equal(t, "bad_one", ce.Caveat)
	require.Len(t, ce.Issues, 1)
	is := ce.Issues[0]
	require.Equal(t, 2, is.Line)
	require.Equal(t, 15, is.Column)
	// Line 9 of the schema, "    ip.in_cidr(a)": the call's '(' is byte 15.
	require.Equal(t, schema.Position{File: "s.zed", Line: 9, Column: 15, Offset: strings.Index(src, "(a)\n}")}, is.Pos)
	require.Equal(t, "caveat bad_one: s.zed:9:15: found no matching overload for 'in_cidr' applied to 'IPAddress.(int)'", err.Error())

	// Without the source: no schema position.
	_, err = CompileProgram(prog, nil)
	require.EqualError(t, err, "caveat bad_one: 2:15: found no matching overload for 'in_cidr' applied to 'IPAddress.(int)'")

	good, _, err := schema.Compile("s.zed", []byte(strings.Replace(src, "ip.in_cidr(a)", "ip.in_cidr('10.0.0.0/8')", 1)))
	require.NoError(t, err)
	cs, err := CompileProgram(good, nil)
	require.NoError(t, err)
	require.Len(t, cs, 2)
	require.Equal(t, "okay", cs["okay"].Name())
	res, err := cs["bad_one"].Evaluate(map[string]any{"a": 1.0}, map[string]any{"ip": "10.9.9.9"})
	require.NoError(t, err)
	require.Equal(t, resTrue, res)
}

// SpiceDB's relationship validation (ConvertContextToParameters with
// ErrorForUnknownParameters) on the context of a written relationship.
func TestValidateContext(t *testing.T) {
	c := mustCompile(t, "a int, ip ipaddress", "a > 1 && ip.in_cidr('10.0.0.0/8')")
	for _, tc := range []struct {
		ctx  map[string]any
		want string
	}{
		{nil, ""},
		{map[string]any{}, ""},
		{map[string]any{"a": 2.0}, ""},
		{map[string]any{"a": 2.0, "ip": "10.0.0.1"}, ""},
		{map[string]any{"a": 2.0, "b": 1.0}, "unknown parameter `b`"},
		{map[string]any{"a": "x"}, "could not convert context parameter `a`: for int: a int64 value is required, but found invalid string value `x`"},
		{map[string]any{"ip": "300.1.1.1"}, "could not convert context parameter `ip`: for ipaddress: could not parse ip address string `300.1.1.1`"},
	} {
		err := c.ValidateContext(tc.ctx)
		if tc.want == "" {
			require.NoError(t, err, "%v", tc.ctx)
		} else {
			require.ErrorContains(t, err, tc.want)
		}
	}
	require.EqualError(t, mustCompile(t, "", "true").ValidateContext(map[string]any{"a": 1.0}), "missing parameters for caveat")
}
