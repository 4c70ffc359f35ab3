package server

import (
	"encoding/binary"
	"fmt"
	"unicode/utf8"

	v1 "github.com/authzed/authzed-go/proto/authzed/api/v1"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// vtMarshaler is what vtprotobuf generates for a message: authzed-go
// ships it for every authzed.api.v1 message (*_vtproto.pb.go).
type vtMarshaler interface {
	SizeVT() int
	MarshalToSizedBufferVT([]byte) (int, error)
}

// vtUnmarshaler is vtprotobuf's decoder of a message.
type vtUnmarshaler interface {
	UnmarshalVT([]byte) error
}

// codec is the server's gRPC codec ("proto", as the default it replaces):
// it encodes and decodes the messages vtprotobuf generated code for with
// that code (no reflection), into buffers of gRPC's pool, and any other
// message (health, reflection, errors' details) as gRPC's own codec does.
//
// vtprotobuf's decoder does not check that strings are UTF-8, as
// protobuf's does (a proto3 string must be). Every string a request names
// is checked by its validation (the API's patterns for types, ids and
// relations), but not all (a schema's text, a caveat context's strings),
// so a request decoded with it is checked for UTF-8 afterwards
// (checkUTF8), and refused as protobuf's decoder would refuse it.
type codec struct {
	fallback encoding.CodecV2
}

func newCodec() *codec {
	return &codec{fallback: encoding.GetCodecV2(grpcproto.Name)}
}

func (c *codec) Name() string { return grpcproto.Name }

func (c *codec) Marshal(v any) (mem.BufferSlice, error) {
	if r, ok := v.(*checkReply); ok {
		// Into the slice the reply holds for it (checkcall.go).
		buf, err := marshalVT(&r.CheckPermissionResponse)
		if err != nil {
			return nil, err
		}
		r.out[0] = buf
		return r.out[:], nil
	}
	m, ok := v.(vtMarshaler)
	if !ok {
		return c.fallback.Marshal(v)
	}
	buf, err := marshalVT(m)
	if err != nil {
		return nil, err
	}
	return mem.BufferSlice{buf}, nil
}

// marshalVT encodes m into a buffer of gRPC's pool.
func marshalVT(m vtMarshaler) (mem.Buffer, error) {
	size := m.SizeVT()
	pool := mem.DefaultBufferPool()
	// gRPC gives back to its pool only buffers of more than 1 KiB (a
	// smaller one is garbage once sent): a small message takes one all
	// the same, which costs nothing once the pool has it.
	buf := pool.Get(max(size, pooledMin))
	*buf = (*buf)[:size]
	n, err := m.MarshalToSizedBufferVT(*buf)
	if err != nil {
		pool.Put(buf)
		return nil, err
	}
	if n != size {
		pool.Put(buf)
		return nil, fmt.Errorf("proto: marshal %T: size changed from %d to %d bytes", m, size, n)
	}
	return mem.NewBuffer(buf, pool), nil
}

// checkParts are the messages a CheckPermissionRequest holds, allocated
// together: one allocation where there would be three.
type checkParts struct {
	resource, object v1.ObjectReference
	subject          v1.SubjectReference
}

// unmarshalCheck decodes a CheckPermissionRequest (into a fresh one) as
// UnmarshalVT does, the resource, the subject and its object given to it
// in one allocation (unmarshalCheckInto).
func unmarshalCheck(r *v1.CheckPermissionRequest, b []byte) error {
	if r.Resource != nil || r.Subject != nil {
		return r.UnmarshalVT(b)
	}
	return unmarshalCheckInto(r, b, new(checkParts))
}

// unmarshalCheckInto decodes a fresh CheckPermissionRequest as UnmarshalVT
// does, its resource, subject and subject's object into p's; those the
// encoding lacks are taken back, so that an absent message stays nil
// (validation then says it is required). The usual request is decoded by
// decodeCheck; any other by UnmarshalVT.
func unmarshalCheckInto(r *v1.CheckPermissionRequest, b []byte, p *checkParts) error {
	if decodeCheck(r, b, p) {
		return nil
	}
	r.Reset()
	*p = checkParts{}
	r.Resource, r.Subject, p.subject.Object = &p.resource, &p.subject, &p.object
	if err := r.UnmarshalVT(b); err != nil {
		return err
	}
	resource, subject, object := false, false, false
	scanFields(b, func(num protowire.Number, v []byte) {
		switch num {
		case 2:
			resource = true
		case 4:
			subject = true
			scanFields(v, func(num protowire.Number, _ []byte) { object = object || num == 1 })
		}
	})
	if !resource {
		r.Resource = nil
	}
	if !subject {
		r.Subject = nil
	} else if !object {
		r.Subject.Object = nil
	}
	return nil
}

// decodeCheck decodes the usual CheckPermissionRequest into a fresh one as
// unmarshalCheckInto does, its strings (types, ids, names) cut from one
// copy of b where UnmarshalVT copies each (five allocations where there
// is one). The usual request has no caveat context and no field the API
// does not know, its fields well formed; decodeCheck refuses any other
// (false; it may have written in r and p), for UnmarshalVT to decode or
// refuse.
// What it accepts, UnmarshalVT accepts and decodes the same
// (TestUnmarshalCheck): a field given twice merges, the last string or
// flag wins.
func decodeCheck(r *v1.CheckPermissionRequest, b []byte, p *checkParts) bool {
	var s string // b, once a string is cut from it
	str := func(start, end int) string {
		if start == end {
			return ""
		}
		if s == "" {
			s = string(b)
		}
		return s[start:end]
	}
	// fields calls f with each field of b[start:end]: its number and type,
	// and the bounds of a length-delimited one's bytes, or the value of a
	// varint. It fails on a malformed field or a type but those two.
	fields := func(start, end int, f func(num protowire.Number, typ protowire.Type, vs, ve int, v uint64) bool) bool {
		for pos := start; pos < end; {
			num, typ, n := protowire.ConsumeTag(b[pos:end])
			if n < 0 {
				return false
			}
			pos += n
			var vs, ve int
			var v uint64
			switch typ {
			case protowire.BytesType:
				bs, n := protowire.ConsumeBytes(b[pos:end])
				if n < 0 {
					return false
				}
				vs, ve = pos+n-len(bs), pos+n
				pos += n
			case protowire.VarintType:
				v, n = protowire.ConsumeVarint(b[pos:end])
				if n < 0 {
					return false
				}
				pos += n
			default:
				return false
			}
			if !f(num, typ, vs, ve, v) {
				return false
			}
		}
		return true
	}
	object := func(o *v1.ObjectReference, start, end int) bool {
		return fields(start, end, func(num protowire.Number, typ protowire.Type, vs, ve int, _ uint64) bool {
			if typ != protowire.BytesType {
				return false
			}
			switch num {
			case 1:
				o.ObjectType = str(vs, ve)
			case 2:
				o.ObjectId = str(vs, ve)
			default:
				return false
			}
			return true
		})
	}
	return fields(0, len(b), func(num protowire.Number, typ protowire.Type, vs, ve int, v uint64) bool {
		if num == 6 { // with_tracing
			if typ != protowire.VarintType {
				return false
			}
			r.WithTracing = v != 0
			return true
		}
		if typ != protowire.BytesType {
			return false
		}
		switch num {
		case 1: // consistency: decoded by its own code
			if r.Consistency == nil {
				r.Consistency = new(v1.Consistency)
			}
			return r.Consistency.UnmarshalVT(b[vs:ve]) == nil
		case 2:
			r.Resource = &p.resource
			return object(r.Resource, vs, ve)
		case 3:
			r.Permission = str(vs, ve)
			return true
		case 4:
			r.Subject = &p.subject
			return fields(vs, ve, func(num protowire.Number, typ protowire.Type, vs, ve int, _ uint64) bool {
				if typ != protowire.BytesType {
					return false
				}
				switch num {
				case 1:
					r.Subject.Object = &p.object
					return object(r.Subject.Object, vs, ve)
				case 2:
					r.Subject.OptionalRelation = str(vs, ve)
					return true
				}
				return false
			})
		}
		return false // the caveat context, or a field the API does not know
	})
}

// scanFields calls f with the number of each field of an encoded message
// and, for a length-delimited one, its bytes. The encoding was decoded
// without error already.
func scanFields(b []byte, f func(protowire.Number, []byte)) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return
		}
		b = b[n:]
		var v []byte
		if typ == protowire.BytesType {
			v, n = protowire.ConsumeBytes(b)
		} else {
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return
		}
		f(num, v)
		b = b[n:]
	}
}

// pooledMin is the smallest buffer gRPC gives back to its pool.
var pooledMin = func() int {
	n := 1 << 10
	for mem.IsBelowBufferPoolingThreshold(n) {
		n *= 2
	}
	return n
}()

func (c *codec) Unmarshal(data mem.BufferSlice, v any) error {
	m, ok := v.(vtUnmarshaler)
	if !ok {
		return c.fallback.Unmarshal(data, v)
	}
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	b := buf.ReadOnlyData()
	switch r := v.(type) {
	case *checkCall: // (checkcall.go)
		if err := unmarshalCheckInto(&r.CheckPermissionRequest, b, &r.parts); err != nil {
			return err
		}
		v = &r.CheckPermissionRequest
	case *v1.CheckPermissionRequest:
		if err := unmarshalCheck(r, b); err != nil {
			return err
		}
	default:
		if err := m.UnmarshalVT(b); err != nil {
			return err
		}
	}
	if pm, ok := v.(proto.Message); ok {
		return checkUTF8(pm, b)
	}
	return nil
}

// checkUTF8 refuses a message with a string field that is not UTF-8, as
// protobuf's decoder does. A message whose encoding is ASCII (most
// requests: short names and ids, small field numbers) has none.
func checkUTF8(m proto.Message, data []byte) error {
	if isASCII(data) || validUTF8(m.ProtoReflect()) {
		return nil
	}
	return fmt.Errorf("proto: %s: a string field contains invalid UTF-8", m.ProtoReflect().Descriptor().FullName())
}

func isASCII(b []byte) bool {
	for len(b) >= 8 {
		if binary.LittleEndian.Uint64(b)&0x8080808080808080 != 0 {
			return false
		}
		b = b[8:]
	}
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func validUTF8(m protoreflect.Message) bool {
	ok := true
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.IsList():
			l := v.List()
			for i := 0; ok && i < l.Len(); i++ {
				ok = validValue(fd, l.Get(i))
			}
		case fd.IsMap():
			v.Map().Range(func(k protoreflect.MapKey, mv protoreflect.Value) bool {
				ok = (fd.MapKey().Kind() != protoreflect.StringKind || utf8.ValidString(k.String())) && validValue(fd.MapValue(), mv)
				return ok
			})
		default:
			ok = validValue(fd, v)
		}
		return ok
	})
	return ok
}

func validValue(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return fd.ParentFile().Syntax() == protoreflect.Proto2 || utf8.ValidString(v.String())
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return validUTF8(v.Message())
	}
	return true
}
