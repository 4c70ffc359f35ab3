package caveats

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	celtypes "github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
)

// Type is the type of a caveat parameter, as written in a schema: one of
// any, bool, int, uint, double, string, bytes, duration, timestamp,
// ipaddress, or list<T> / map<T> over another Type (map keys are strings).
type Type struct {
	keyword string
	elem    *Type // list and map only
	cel     *cel.Type
	convert func(value any) (any, error)
}

// String returns the type as SpiceDB writes it: "int", "list<string>", ...
func (t *Type) String() string {
	if t.elem != nil {
		return t.keyword + "<" + t.elem.String() + ">"
	}
	return t.keyword
}

// CELType returns the CEL type a parameter of this type is declared with.
// As in SpiceDB, uint is declared as CEL's int (its values are uint64).
func (t *Type) CELType() *cel.Type { return t.cel }

// Convert converts a context value to this type, as SpiceDB's
// VariableType.ConvertValue does: JSON numbers (float64) become int64,
// uint64 or float64 where they fit the type (a number written as a string
// is accepted too), strings become timestamps (RFC 3339), durations (Go
// syntax, "10h4m"), bytes (standard base64) and IP addresses, and lists and
// maps are converted element by element. The error names the type, as
// SpiceDB's does: "for int: a int64 value is required, but found string `x`".
//
// Besides what JSON decodes to, Go integers, json.Number, time.Time,
// time.Duration, []byte and IPAddress are accepted where they fit.
func (t *Type) Convert(value any) (any, error) {
	v, err := t.convert(value)
	if err != nil {
		return nil, fmt.Errorf("for %s: %w", t, err)
	}
	return v, nil
}

var basicTypes = map[string]*Type{}

func basic(keyword string, ct *cel.Type, convert func(any) (any, error)) *Type {
	t := &Type{keyword: keyword, cel: ct, convert: convert}
	basicTypes[keyword] = t
	return t
}

// The basic parameter types.
var (
	AnyType       = basic("any", cel.DynType, convertAny)
	BoolType      = basic("bool", cel.BoolType, requireType[bool])
	StringType    = basic("string", cel.StringType, requireType[string])
	IntType       = basic("int", cel.IntType, convertNumber[int64])
	UintType      = basic("uint", cel.IntType, convertNumber[uint64]) // SpiceDB declares uint as CEL int
	DoubleType    = basic("double", cel.DoubleType, convertNumber[float64])
	BytesType     = basic("bytes", cel.BytesType, convertBytes)
	DurationType  = basic("duration", cel.DurationType, convertDuration)
	TimestampType = basic("timestamp", cel.TimestampType, convertTimestamp)
	IPAddressType = basic("ipaddress", ipAddressCELType, convertIPAddress)
)

// ListType returns list<elem>.
func ListType(elem *Type) *Type {
	t := &Type{keyword: "list", elem: elem, cel: cel.ListType(elem.cel)}
	t.convert = func(value any) (any, error) {
		items, ok := value.([]any)
		if !ok {
			return nil, fmt.Errorf("list requires a list, found: %T", value)
		}
		out := make([]any, len(items))
		for i, item := range items {
			v, err := elem.Convert(item)
			if err != nil {
				return nil, fmt.Errorf("found an invalid value for item at index %d: %w", i, err)
			}
			out[i] = v
		}
		return out, nil
	}
	return t
}

// MapType returns map<elem>, a map from strings to elem.
func MapType(elem *Type) *Type {
	t := &Type{keyword: "map", elem: elem, cel: cel.MapType(cel.StringType, elem.cel)}
	t.convert = func(value any) (any, error) {
		m, ok := value.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("map requires a map, found: %T", value)
		}
		// Sorted keys: SpiceDB ranges over the map, so which bad key it
		// names first is random; reach names the first in order.
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		out := make(map[string]any, len(m))
		for _, k := range keys {
			v, err := elem.Convert(m[k])
			if err != nil {
				return nil, fmt.Errorf("found an invalid value for key `%s`: %w", k, err)
			}
			out[k] = v
		}
		return out, nil
	}
	return t
}

// ParseType parses a parameter type as written in a schema ("int",
// "list<string>", "map<list<int>>"; spaces around the brackets allowed).
func ParseType(s string) (*Type, error) {
	p := typeParser{s: s}
	t, err := p.parse()
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos != len(p.s) {
		return nil, fmt.Errorf("invalid type %q: unexpected %q", s, p.s[p.pos:])
	}
	return t, nil
}

type typeParser struct {
	s     string
	pos   int
	depth int
}

func (p *typeParser) skipSpace() {
	for p.pos < len(p.s) && strings.ContainsRune(" \t\r\n", rune(p.s[p.pos])) {
		p.pos++
	}
}

func (p *typeParser) parse() (*Type, error) {
	if p.depth++; p.depth > 32 {
		return nil, fmt.Errorf("invalid type %q: nested too deeply", p.s)
	}
	p.skipSpace()
	start := p.pos
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		if c != '_' && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			break
		}
		p.pos++
	}
	name := p.s[start:p.pos]
	if name == "" {
		return nil, fmt.Errorf("invalid type %q: expected a type name at offset %d", p.s, start)
	}
	p.skipSpace()
	var args []*Type
	if p.pos < len(p.s) && p.s[p.pos] == '<' {
		p.pos++
		for {
			a, err := p.parse()
			if err != nil {
				return nil, err
			}
			args = append(args, a)
			p.skipSpace()
			if p.pos < len(p.s) && p.s[p.pos] == ',' {
				p.pos++
				continue
			}
			if p.pos < len(p.s) && p.s[p.pos] == '>' {
				p.pos++
				break
			}
			return nil, fmt.Errorf("invalid type %q: expected ',' or '>' at offset %d", p.s, p.pos)
		}
	}
	p.depth--
	switch name {
	case "list", "map":
		if len(args) != 1 {
			return nil, fmt.Errorf("type `%s` requires 1 generic types; found %d", name, len(args))
		}
		if name == "list" {
			return ListType(args[0]), nil
		}
		return MapType(args[0]), nil
	}
	t, ok := basicTypes[name]
	if !ok {
		return nil, fmt.Errorf("unknown type `%s`", name)
	}
	if len(args) != 0 {
		return nil, fmt.Errorf("type `%s` requires 0 generic types; found %d", name, len(args))
	}
	return t, nil
}

func convertAny(value any) (any, error) { return value, nil }

func requireType[T any](value any) (any, error) {
	if _, ok := value.(T); !ok {
		return nil, fmt.Errorf("a %T value is required, but found %T `%v`", *new(T), value, value)
	}
	return value, nil // already a T: no new boxing (an allocation)
}

// convertNumber follows SpiceDB's convertNumericType: a value of the exact
// Go type passes; a float64 or a string holding a number is read as a
// big.Float, which must be integral for int and uint (and not negative for
// uint). Unlike SpiceDB, which clamps with big.Float.Int64 (so that
// 99999999999999999999999 or 2^63 silently become 2^63-1, for uint too), an
// integer out of the range of int64 (int) or uint64 (uint) is refused.
func convertNumber[T int64 | uint64 | float64](value any) (any, error) {
	if _, ok := value.(T); ok {
		return value, nil
	}
	var f *big.Float
	switch v := value.(type) {
	case float64:
		if math.IsNaN(v) {
			if _, isFloat := any(*new(T)).(float64); isFloat {
				return v, nil
			}
			return nil, fmt.Errorf("a %T value is required, but found numeric value `NaN`", *new(T))
		}
		f = big.NewFloat(v)
	case string:
		parsed, _, err := big.ParseFloat(v, 10, 64, 0)
		if err != nil {
			return nil, fmt.Errorf("a %T value is required, but found invalid string value `%v`", *new(T), value)
		}
		f = parsed
	case json.Number:
		parsed, _, err := big.ParseFloat(string(v), 10, 64, 0)
		if err != nil {
			return nil, fmt.Errorf("a %T value is required, but found invalid string value `%v`", *new(T), value)
		}
		f = parsed
	case int:
		f = new(big.Float).SetInt64(int64(v))
	case int32:
		f = new(big.Float).SetInt64(int64(v))
	case int64:
		f = new(big.Float).SetInt64(v)
	case uint:
		f = new(big.Float).SetUint64(uint64(v))
	case uint32:
		f = new(big.Float).SetUint64(uint64(v))
	case uint64:
		f = new(big.Float).SetUint64(v)
	default:
		return nil, fmt.Errorf("a %T value is required, but found %T `%v`", *new(T), value, value)
	}
	switch any(*new(T)).(type) {
	case int64:
		if !f.IsInt() {
			return nil, fmt.Errorf("a int value is required, but found numeric value `%s`", f.String())
		}
		n, acc := f.Int64()
		if acc != big.Exact {
			return nil, fmt.Errorf("a int value is required, but found numeric value `%s`, out of the range of int (-2^63 to 2^63-1)", numberText(value))
		}
		return n, nil
	case uint64:
		if !f.IsInt() {
			return nil, fmt.Errorf("a uint value is required, but found numeric value `%s`", f.String())
		}
		if f.Sign() < 0 {
			return nil, fmt.Errorf("a uint value is required, but found int64 value `%s`", f.String())
		}
		n, acc := f.Uint64()
		if acc != big.Exact {
			return nil, fmt.Errorf("a uint value is required, but found numeric value `%s`, out of the range of uint (0 to 2^64-1)", numberText(value))
		}
		return n, nil
	default:
		n, _ := f.Float64()
		return n, nil
	}
}

// numberText shows a number that convertNumber refuses as it was given (a
// float in its shortest form), at most 100 characters of it.
func numberText(value any) string {
	var s string
	switch v := value.(type) {
	case float64:
		s = strconv.FormatFloat(v, 'g', -1, 64)
	default:
		s = fmt.Sprint(v)
	}
	if len(s) > 100 {
		s = s[:100] + "…"
	}
	return s
}

func convertBytes(value any) (any, error) {
	if b, ok := value.([]byte); ok {
		return b, nil
	}
	s, ok := value.(string)
	if !ok {
		return nil, fmt.Errorf("bytes requires a base64 unicode string, found: %T `%v`", value, value)
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("bytes requires a base64 encoded string: %w", err)
	}
	return b, nil
}

func convertDuration(value any) (any, error) {
	if d, ok := value.(time.Duration); ok {
		return d, nil
	}
	s, ok := value.(string)
	if !ok {
		return nil, fmt.Errorf("durations requires a duration string, found: %T", value)
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return nil, fmt.Errorf("could not parse duration string `%s`: %w", s, err)
	}
	return d, nil
}

func convertTimestamp(value any) (any, error) {
	if ts, ok := value.(time.Time); ok {
		return ts, nil
	}
	s, ok := value.(string)
	if !ok {
		return nil, fmt.Errorf("timestamps requires a RFC 3339 formatted timestamp string, found: %T `%v`", value, value)
	}
	ts, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return nil, fmt.Errorf("could not parse RFC 3339 formatted timestamp string `%s`: %w", s, err)
	}
	return ts, nil
}

func convertIPAddress(value any) (any, error) {
	if ip, ok := value.(IPAddress); ok {
		return ip, nil
	}
	s, ok := value.(string)
	if !ok {
		return nil, fmt.Errorf("ipaddress requires an ipaddress string, found: %T `%v`", value, value)
	}
	ip, err := ParseIPAddress(s)
	if err != nil {
		return nil, fmt.Errorf("could not parse ip address string `%s`: %w", s, err)
	}
	return ip, nil
}

// ipAddressCELType is the CEL type of ipaddress values; the name is
// SpiceDB's.
var ipAddressCELType = cel.ObjectType("IPAddress", traits.ReceiverType)

// IPAddress is the value of an ipaddress parameter: a CEL value with one
// method, in_cidr(string) bool.
type IPAddress struct {
	ip netip.Addr
}

// ParseIPAddress parses an IPv4 or IPv6 address (netip.ParseAddr syntax).
func ParseIPAddress(s string) (IPAddress, error) {
	ip, err := netip.ParseAddr(s)
	return IPAddress{ip}, err
}

// String returns the address in netip's form.
func (a IPAddress) String() string { return a.ip.String() }

// ConvertToNative implements ref.Val: an IPAddress converts to its string.
func (a IPAddress) ConvertToNative(typeDesc reflect.Type) (any, error) {
	if typeDesc == reflect.TypeOf("") {
		return a.ip.String(), nil
	}
	return nil, fmt.Errorf("type conversion error from 'IPAddress' to '%v'", typeDesc)
}

// ConvertToType implements ref.Val: string(ip) and type(ip).
func (a IPAddress) ConvertToType(typeVal ref.Type) ref.Val {
	switch typeVal {
	case celtypes.StringType:
		return celtypes.String(a.ip.String())
	case celtypes.TypeType:
		return ipAddressCELType
	}
	return celtypes.NewErr("type conversion error from '%s' to '%s'", ipAddressCELType, typeVal)
}

// Equal implements ref.Val.
func (a IPAddress) Equal(other ref.Val) ref.Val {
	o, ok := other.(IPAddress)
	if !ok {
		return celtypes.False
	}
	return celtypes.Bool(a == o)
}

// Type implements ref.Val.
func (a IPAddress) Type() ref.Type { return ipAddressCELType }

// Value implements ref.Val.
func (a IPAddress) Value() any { return a }

// inCIDR is ipaddress.in_cidr(string): whether the address lies in the
// network; an invalid CIDR is an evaluation error with SpiceDB's text.
func inCIDR(lhs, rhs ref.Val) ref.Val {
	ip, ok := lhs.(IPAddress)
	if !ok {
		return celtypes.NewErr("no such overload")
	}
	cidr, ok := rhs.Value().(string)
	if !ok {
		return celtypes.NewErr("expected CIDR string")
	}
	network, err := netip.ParsePrefix(cidr)
	if err != nil {
		return celtypes.NewErr("invalid CIDR string: `%s`", cidr)
	}
	return celtypes.Bool(network.Contains(ip.ip))
}

// typeAdapter passes CEL values (IPAddress) through and adapts the rest as
// CEL does by default.
type typeAdapter struct{}

func (typeAdapter) NativeToValue(value any) ref.Val {
	if v, ok := value.(ref.Val); ok {
		return v
	}
	return celtypes.DefaultTypeAdapter.NativeToValue(value)
}
