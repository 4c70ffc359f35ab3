package caveats

import (
	"encoding/base64"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func mustType(t *testing.T, s string) *Type {
	t.Helper()
	ty, err := ParseType(s)
	require.NoError(t, err)
	return ty
}

func mustIP(s string) IPAddress {
	ip, err := ParseIPAddress(s)
	if err != nil {
		panic(err)
	}
	return ip
}

// The cases and error texts are SpiceDB's pkg/caveats/types TestConversion
// (ConvertValue prefixes "for TYPE: "; nested types prefix each level).
func TestConvert(t *testing.T) {
	tcs := []struct {
		name, typ string
		in        any
		want      any
		wantErr   string
	}{
		{"bool to bool", "bool", true, true, ""},
		{"string to bool", "bool", "hiya", nil, "for bool: a bool value is required, but found string `hiya`"},
		{"number to string", "string", 42, nil, "for string: a string value is required, but found int `42`"},
		{"float to float", "double", 42.0, 42.0, ""},
		{"string to float", "double", "42.0", 42.0, ""},
		{"float to uint", "uint", 42.0, uint64(42), ""},
		{"invalid float to uint", "uint", 42.1, nil, "for uint: a uint value is required, but found numeric value `42.1`"},
		{"negative float to uint", "uint", -42.0, nil, "for uint: a uint value is required, but found int64 value `-42`"},
		{"float to int", "int", 42.0, int64(42), ""},
		{"string to int", "int", "42", int64(42), ""},
		{"string to uint", "uint", "42", uint64(42), ""},
		{"invalid float to int", "int", 42.1, nil, "for int: a int value is required, but found numeric value `42.1`"},
		{"negative float to int", "int", -42.0, int64(-42), ""},
		{"bad string to int", "int", "abc", nil, "for int: a int64 value is required, but found invalid string value `abc`"},
		{"bool to int", "int", true, nil, "for int: a int64 value is required, but found bool `true`"},
		{"null to int", "int", nil, nil, "for int: a int64 value is required, but found <nil> `<nil>`"},
		{"NaN to int", "int", math.NaN(), nil, "for int: a int64 value is required, but found numeric value `NaN`"},
		{"Inf to int", "int", math.Inf(1), nil, "for int: a int value is required, but found numeric value `+Inf`"},
		{"json.Number to int", "int", json.Number("7"), int64(7), ""},
		{"Go int to int", "int", 7, int64(7), ""},
		{"valid list<uint>", "list<uint>", []any{uint64(1)}, []any{uint64(1)}, ""},
		{"valid list<uint> with conversion", "list<uint>", []any{42.0}, []any{uint64(42)}, ""},
		{"valid list<uint> with string conversion", "list<uint>", []any{"42"}, []any{uint64(42)}, ""},
		{"valid list<uint> with string conversion of max int", "list<uint>", []any{"9223372036854775807"}, []any{uint64(9223372036854775807)}, ""},
		// Issue 12.8: out of range is refused, not clamped to 2^63-1.
		{"max int", "int", "9223372036854775807", int64(math.MaxInt64), ""},
		{"min int", "int", "-9223372036854775808", int64(math.MinInt64), ""},
		{"min int as a float", "int", -9223372036854775808.0, int64(math.MinInt64), ""},
		{"2^63 to int", "int", 9223372036854775808.0, nil, "for int: a int value is required, but found numeric value `9.223372036854776e+18`, out of the range of int (-2^63 to 2^63-1)"},
		{"huge JSON number to int", "int", 99999999999999999999999.0, nil, "for int: a int value is required, but found numeric value `1e+23`, out of the range of int (-2^63 to 2^63-1)"},
		{"huge string to int", "int", "99999999999999999999999", nil, "for int: a int value is required, but found numeric value `99999999999999999999999`, out of the range of int (-2^63 to 2^63-1)"},
		{"below min int", "int", "-9223372036854775809", nil, "for int: a int value is required, but found numeric value `-9223372036854775809`, out of the range of int (-2^63 to 2^63-1)"},
		{"huge Go uint64 to int", "int", uint64(1 << 63), nil, "for int: a int value is required, but found numeric value `9223372036854775808`, out of the range of int (-2^63 to 2^63-1)"},
		{"2^63 to uint", "uint", 9223372036854775808.0, uint64(1 << 63), ""},
		{"max uint", "uint", "18446744073709551615", uint64(math.MaxUint64), ""},
		{"2^64 to uint", "uint", "18446744073709551616", nil, "for uint: a uint value is required, but found numeric value `18446744073709551616`, out of the range of uint (0 to 2^64-1)"},
		{"huge JSON number to uint", "uint", 99999999999999999999999.0, nil, "for uint: a uint value is required, but found numeric value `1e+23`, out of the range of uint (0 to 2^64-1)"},
		{"huge in a list", "list<int>", []any{1.0, 1e30}, nil, "for list<int>: found an invalid value for item at index 1: for int: a int value is required, but found numeric value `1e+30`, out of the range of int (-2^63 to 2^63-1)"},
		{"list given a string", "list<int>", "1,2", nil, "for list<int>: list requires a list, found: string"},
		{"map with invalid value type", "map<uint>", map[string]any{"foo": "a1"}, nil,
			"for map<uint>: found an invalid value for key `foo`: for uint: a uint64 value is required, but found invalid string value `a1`"},
		{"map with invalid value type in different key", "map<uint>", map[string]any{"foo": "1", "bar": "a1"}, nil,
			"for map<uint>: found an invalid value for key `bar`: for uint: a uint64 value is required, but found invalid string value `a1`"},
		{"map with valid converted value type", "map<uint>", map[string]any{"foo": "1"}, map[string]any{"foo": uint64(1)}, ""},
		{"map with invalid nested value in list", "map<list<uint>>", map[string]any{"foo": []any{"-1"}}, nil,
			"for map<list<uint>>: found an invalid value for key `foo`: for list<uint>: found an invalid value for item at index 0: for uint: a uint value is required, but found int64 value `-1`"},
		{"map with valid nested value in list", "map<list<uint>>", map[string]any{"foo": []any{"1"}}, map[string]any{"foo": []any{uint64(1)}}, ""},
		{"map with invalid nested map value", "map<map<string>>", map[string]any{"foo": map[string]any{"bar": 42.0}}, nil,
			"for map<map<string>>: found an invalid value for key `foo`: for map<string>: found an invalid value for key `bar`: for string: a string value is required, but found float64 `42`"},
		{"map with valid nested map value", "map<map<string>>", map[string]any{"foo": map[string]any{"bar": "hiya"}}, map[string]any{"foo": map[string]any{"bar": "hiya"}}, ""},
		{"map given a list", "map<int>", []any{}, nil, "for map<int>: map requires a map, found: []interface {}"},
		{"valid bytes", "bytes", base64.StdEncoding.EncodeToString([]byte{1, 2, 3, 42}), []byte{1, 2, 3, 42}, ""},
		{"invalid type for bytes", "bytes", 42.0, nil, "for bytes: bytes requires a base64 unicode string, found: float64 `42`"},
		{"invalid bytes", "bytes", "testing123", nil, "for bytes: bytes requires a base64 encoded string: illegal base64 data at input byte 8"},
		{"valid duration", "duration", "10h4m", 604 * time.Minute, ""},
		{"invalid duration", "duration", "10hm", nil, "for duration: could not parse duration string `10hm`: time: unknown unit \"hm\" in duration \"10hm\""},
		{"number for duration", "duration", 5.0, nil, "for duration: durations requires a duration string, found: float64"},
		{"valid timestamp", "timestamp", "2023-01-22T01:13:00Z", time.Date(2023, time.January, 22, 1, 13, 0, 0, time.UTC), ""},
		{"invalid timestamp", "timestamp", "2023-0122", nil,
			"for timestamp: could not parse RFC 3339 formatted timestamp string `2023-0122`: parsing time \"2023-0122\" as \"2006-01-02T15:04:05Z07:00\": cannot parse \"22\" as \"-\""},
		{"invalid timestamp value", "timestamp", 42.0, nil, "for timestamp: timestamps requires a RFC 3339 formatted timestamp string, found: float64 `42`"},
		{"valid ipaddress", "ipaddress", "1.2.3.4", mustIP("1.2.3.4"), ""},
		{"valid ipv6 address", "ipaddress", "2001:db8::1", mustIP("2001:db8::1"), ""},
		{"invalid ipaddress", "ipaddress", "1...23.4", nil,
			"for ipaddress: could not parse ip address string `1...23.4`: ParseAddr(\"1...23.4\"): IPv4 field must have at least one digit (at \"..23.4\")"},
		{"invalid ipaddress type", "ipaddress", 42.0, nil, "for ipaddress: ipaddress requires an ipaddress string, found: float64 `42`"},
		{"invalid ipaddress in list", "list<ipaddress>", []any{"1...23.4"}, nil,
			"for list<ipaddress>: found an invalid value for item at index 0: for ipaddress: could not parse ip address string `1...23.4`: ParseAddr(\"1...23.4\"): IPv4 field must have at least one digit (at \"..23.4\")"},
		{"ipaddress in list", "list<ipaddress>", []any{"1.2.3.4", "4.5.6.7"}, []any{mustIP("1.2.3.4"), mustIP("4.5.6.7")}, ""},
		{"any passes through", "any", map[string]any{"a": 1.0}, map[string]any{"a": 1.0}, ""},
	}
	for _, tc := range tcs {
		t.Run(tc.name, func(t *testing.T) {
			got, err := mustType(t, tc.typ).Convert(tc.in)
			if tc.wantErr != "" {
				require.EqualError(t, err, tc.wantErr)
				require.Nil(t, got)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestParseType(t *testing.T) {
	for _, s := range []string{"any", "bool", "int", "uint", "double", "string", "bytes", "duration",
		"timestamp", "ipaddress", "list<string>", "map<int>", "map<list<ipaddress>>", "list<map<any>>"} {
		ty, err := ParseType(s)
		require.NoError(t, err, s)
		require.Equal(t, s, ty.String())
	}
	ty, err := ParseType(" list < map < int > > ")
	require.NoError(t, err)
	require.Equal(t, "list<map<int>>", ty.String())

	for s, want := range map[string]string{
		"":              `invalid type "": expected a type name at offset 0`,
		"float":         "unknown type `float`",
		"list":          "type `list` requires 1 generic types; found 0",
		"map<int, int>": "type `map` requires 1 generic types; found 2",
		"int<string>":   "type `int` requires 0 generic types; found 1",
		"list<int":      `invalid type "list<int": expected ',' or '>' at offset 8`,
		"list<int>>":    `invalid type "list<int>>": unexpected ">"`,
		"list<>":        `invalid type "list<>": expected a type name at offset 5`,
	} {
		_, err := ParseType(s)
		require.EqualError(t, err, want, s)
	}
	deep := ""
	for range 40 {
		deep += "list<"
	}
	_, err = ParseType(deep + "int")
	require.ErrorContains(t, err, "nested too deeply")
}
